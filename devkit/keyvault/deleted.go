package keyvault

import (
	"net/http"
)

// routeDeleted serves /deletedsecrets and /deletedkeys: list, get, recover
// and purge.
func (s *Server) routeDeleted(req *request, k kind, segs []string) (int, any, *kvError) {
	switch {
	case len(segs) == 0:
		if e := methods(req, http.MethodGet); e != nil {
			return 0, nil, e
		}
		return s.listObjects(req, k, true)
	case len(segs) == 1:
		if e := methods(req, http.MethodGet, http.MethodDelete); e != nil {
			return 0, nil, e
		}
		if req.r.Method == http.MethodDelete {
			return s.purge(req, k, segs[0])
		}
		return s.getDeleted(req, k, segs[0])
	case len(segs) == 2 && segs[1] == "recover":
		if e := methods(req, http.MethodPost); e != nil {
			return 0, nil, e
		}
		return s.recover(req, k, segs[0])
	}
	return 0, nil, badParameter("The request URI is not a Key Vault %s operation.", k.deleted)
}

// deletedReadPermission is what reading a deleted object takes: Key Vault
// documents secrets/list for a deleted secret and keys/get for a deleted key.
func deletedReadPermission(k kind) string {
	if k == keyKind {
		return "get"
	}
	return "list"
}

func (s *Server) getDeleted(req *request, k kind, name string) (int, any, *kvError) {
	if e := s.allowed(req.caller, k, deletedReadPermission(k)); e != nil {
		return 0, nil, e
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	o := s.lookupDeleted(k, name, s.now())
	if o == nil {
		return 0, nil, k.errDeletedNotFound(name)
	}
	return http.StatusOK, s.render(k, o, o.current()), nil
}

// recover brings a deleted object back with all its versions.
func (s *Server) recover(req *request, k kind, name string) (int, any, *kvError) {
	if e := s.allowed(req.caller, k, "recover"); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.lookupDeleted(k, name, s.now())
	if o == nil {
		return 0, nil, k.errDeletedNotFound(name)
	}
	o = o.clone()
	o.Deleted = nil
	if err := s.commit(k, o.Name, o); err != nil {
		return 0, nil, errInternal()
	}
	s.log.Info("keyvault: "+k.noun+" recovered", "name", o.Name, "caller", req.caller.oid)
	return http.StatusOK, s.render(k, o, o.current()), nil
}

// purge forgets a deleted object for good.
func (s *Server) purge(req *request, k kind, name string) (int, any, *kvError) {
	if e := s.allowed(req.caller, k, "purge"); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.lookupDeleted(k, name, s.now())
	if o == nil {
		return 0, nil, k.errDeletedNotFound(name)
	}
	if err := s.commit(k, o.Name, nil); err != nil {
		return 0, nil, errInternal()
	}
	s.log.Info("keyvault: "+k.noun+" purged", "name", o.Name, "caller", req.caller.oid)
	return http.StatusNoContent, nil, nil
}
