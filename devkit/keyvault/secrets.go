package keyvault

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// secretOut is a secret version as Key Vault answers it: SecretBundle, with
// the value only where the operation returns it, and the deleted members
// for a deleted secret.
type secretOut struct {
	Value       *string           `json:"value,omitempty"`
	ID          string            `json:"id"`
	ContentType string            `json:"contentType,omitempty"`
	Attributes  attributesOut     `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
	deletedOut
}

func (s *Server) secretOut(o *object, v *version, id string, withValue bool) secretOut {
	out := secretOut{ID: id, ContentType: v.ContentType, Attributes: attributesOf(secretKind, v), Tags: v.Tags,
		deletedOut: s.deletedOf(secretKind, o)}
	if withValue {
		value := v.Value
		out.Value = &value
	}
	return out
}

// setSecretIn is the body of PUT /secrets/{name}.
type setSecretIn struct {
	Value       *string           `json:"value"`
	ContentType *string           `json:"contentType"`
	Attributes  *attributesIn     `json:"attributes"`
	Tags        map[string]string `json:"tags"`
}

// updateSecretIn is the body of PATCH /secrets/{name}/{version}.
type updateSecretIn struct {
	ContentType *string           `json:"contentType"`
	Attributes  *attributesIn     `json:"attributes"`
	Tags        map[string]string `json:"tags"`
}

func (s *Server) routeSecrets(req *request, segs []string) (int, any, *kvError) {
	switch {
	case len(segs) == 0:
		if e := methods(req, http.MethodGet); e != nil {
			return 0, nil, e
		}
		return s.listSecrets(req)
	case len(segs) == 1 && segs[0] == "restore":
		return 0, nil, errNotImplemented("Restoring a secret backup")
	case len(segs) == 1:
		if e := methods(req, http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete); e != nil {
			return 0, nil, e
		}
		switch req.r.Method {
		case http.MethodPut:
			return s.putSecret(req, segs[0])
		case http.MethodPatch:
			return s.updateSecret(req, segs[0], "")
		case http.MethodDelete:
			return s.deleteObject(req, secretKind, segs[0])
		}
		return s.getSecret(req, segs[0], "")
	case len(segs) == 2 && segs[1] == "versions":
		if e := methods(req, http.MethodGet); e != nil {
			return 0, nil, e
		}
		return s.listVersions(req, secretKind, segs[0])
	case len(segs) == 2 && segs[1] == "backup":
		return 0, nil, errNotImplemented("Backing up a secret")
	case len(segs) == 2:
		if e := methods(req, http.MethodGet, http.MethodPatch); e != nil {
			return 0, nil, e
		}
		if req.r.Method == http.MethodPatch {
			return s.updateSecret(req, segs[0], segs[1])
		}
		return s.getSecret(req, segs[0], segs[1])
	}
	return 0, nil, badParameter("The request URI is not a Key Vault secrets operation.")
}

func (s *Server) putSecret(req *request, name string) (int, any, *kvError) {
	if e := s.allowed(req.caller, secretKind, "set"); e != nil {
		return 0, nil, e
	}
	var in setSecretIn
	if e := readBody(req, &in); e != nil {
		return 0, nil, e
	}
	o, v, e := s.setSecret(name, in, req.caller.oid)
	if e != nil {
		return 0, nil, e
	}
	return http.StatusOK, s.secretOut(o, v, s.id(secretKind, o.Name, v.ID), true), nil
}

// setSecret adds a version to the secret named name, creating it if need be.
func (s *Server) setSecret(name string, in setSecretIn, who string) (*object, *version, *kvError) {
	if !validName(name) {
		return nil, nil, errInvalidName(name)
	}
	if in.Value == nil {
		return nil, nil, badParameter("The secret value is required.")
	}
	if len(*in.Value) > maxSecretBytes {
		return nil, nil, badParameter("The secret value is %d bytes; Key Vault stores at most %d.", len(*in.Value), maxSecretBytes)
	}
	if in.ContentType != nil && len(*in.ContentType) > maxContentType {
		return nil, nil, badParameter("The content type is longer than %d characters.", maxContentType)
	}
	if in.Attributes != nil {
		in.Attributes.Exportable = nil // a key attribute; secrets have none
	}
	if e := in.Attributes.check(); e != nil {
		return nil, nil, e
	}
	if e := checkTags(in.Tags, maxSecretTagLen); e != nil {
		return nil, nil, e
	}
	id, err := newVersionID()
	if err != nil {
		return nil, nil, errInternal()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	o := s.objects(secretKind)[strings.ToLower(name)]
	if o != nil && o.Deleted != nil {
		if !o.purged(now) {
			return nil, nil, secretKind.errDeletedConflict(name)
		}
		o = nil
	}
	v := &version{ID: id, Enabled: true, Created: now.Unix(), Updated: now.Unix(), Value: *in.Value, Tags: in.Tags}
	if in.ContentType != nil {
		v.ContentType = *in.ContentType
	}
	in.Attributes.apply(v)
	if o == nil {
		o = &object{Name: name, Versions: []*version{v}}
	} else {
		o = o.clone()
		o.Versions = append(o.Versions, v)
	}
	if err := s.commit(secretKind, name, o); err != nil {
		return nil, nil, errInternal()
	}
	s.log.Info("keyvault: secret set", "name", o.Name, "version", v.ID, "caller", who)
	return o, v, nil
}

func (s *Server) getSecret(req *request, name, ver string) (int, any, *kvError) {
	if e := s.allowed(req.caller, secretKind, "get"); e != nil {
		return 0, nil, e
	}
	if req.r.URL.Query().Has("outContentType") {
		return 0, nil, badParameter("outContentType converts the secrets that back certificates; this vault holds none.")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	o := s.lookup(secretKind, name)
	if o == nil {
		return 0, nil, secretKind.errNotFound(name, ver)
	}
	v := o.find(ver)
	if v == nil {
		return 0, nil, secretKind.errNotFound(name, ver)
	}
	// Only enabled gates a read: Key Vault documents that get works outside
	// the nbf/exp window ("date-time controlled operations").
	if !v.Enabled {
		return 0, nil, secretKind.errDisabled("get")
	}
	return http.StatusOK, s.secretOut(o, v, s.id(secretKind, o.Name, v.ID), true), nil
}

func (s *Server) updateSecret(req *request, name, ver string) (int, any, *kvError) {
	if e := s.allowed(req.caller, secretKind, "set"); e != nil {
		return 0, nil, e
	}
	var in updateSecretIn
	if e := readBody(req, &in); e != nil {
		return 0, nil, e
	}
	if in.ContentType != nil && len(*in.ContentType) > maxContentType {
		return 0, nil, badParameter("The content type is longer than %d characters.", maxContentType)
	}
	if in.Attributes != nil {
		in.Attributes.Exportable = nil
	}
	if e := in.Attributes.check(); e != nil {
		return 0, nil, e
	}
	if e := checkTags(in.Tags, maxSecretTagLen); e != nil {
		return 0, nil, e
	}
	o, v, e := s.updateVersion(secretKind, name, ver, req.caller.oid, func(v *version) *kvError {
		if in.ContentType != nil {
			v.ContentType = *in.ContentType
		}
		if in.Tags != nil {
			v.Tags = in.Tags
		}
		in.Attributes.apply(v)
		return nil
	})
	if e != nil {
		return 0, nil, e
	}
	return http.StatusOK, s.secretOut(o, v, s.id(secretKind, o.Name, v.ID), false), nil
}

// updateVersion changes a copy of one version of a live object and commits
// it.
func (s *Server) updateVersion(k kind, name, ver, who string, change func(*version) *kvError) (*object, *version, *kvError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.lookup(k, name)
	if o == nil {
		return nil, nil, k.errNotFound(name, ver)
	}
	old := o.find(ver)
	if old == nil {
		return nil, nil, k.errNotFound(name, ver)
	}
	v := old.clone()
	if e := change(v); e != nil {
		return nil, nil, e
	}
	v.Updated = s.now().Unix()
	o = o.clone()
	for i := range o.Versions {
		if o.Versions[i] == old {
			o.Versions[i] = v
		}
	}
	if err := s.commit(k, o.Name, o); err != nil {
		return nil, nil, errInternal()
	}
	s.log.Info("keyvault: "+k.noun+" updated", "name", o.Name, "version", v.ID, "enabled", v.Enabled, "caller", who)
	return o, v, nil
}

// deleteObject soft-deletes a secret or key: kept for 90 days, recoverable
// or purgeable, its name not reusable meanwhile.
func (s *Server) deleteObject(req *request, k kind, name string) (int, any, *kvError) {
	if e := s.allowed(req.caller, k, "delete"); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.lookup(k, name)
	if o == nil {
		return 0, nil, k.errNotFound(name, "")
	}
	now := s.now()
	o = o.clone()
	o.Deleted = &deletion{Date: now.Unix(), ScheduledPurge: now.Add(recoverableDays * 24 * time.Hour).Unix()}
	if err := s.commit(k, o.Name, o); err != nil {
		return 0, nil, errInternal()
	}
	s.log.Info("keyvault: "+k.noun+" deleted", "name", o.Name, "caller", req.caller.oid)
	return http.StatusOK, s.render(k, o, o.current()), nil
}

// render is an object's answer without secret values: SecretBundle or
// KeyBundle, with the deleted members when it is deleted.
func (s *Server) render(k kind, o *object, v *version) any {
	if k == keyKind {
		return s.keyOut(o, v)
	}
	return s.secretOut(o, v, s.id(secretKind, o.Name, v.ID), false)
}

// item is an entry of a list: SecretItem or KeyItem (id or kid).
func (s *Server) item(k kind, o *object, v *version, id string) any {
	if k == keyKind {
		return keyItem{KID: id, Attributes: attributesOf(keyKind, v), Tags: v.Tags, deletedOut: s.deletedOf(keyKind, o)}
	}
	out := s.secretOut(o, v, id, false)
	return out
}

type keyItem struct {
	KID        string            `json:"kid"`
	Attributes attributesOut     `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	deletedOut
}

func (s *Server) listSecrets(req *request) (int, any, *kvError) {
	return s.listObjects(req, secretKind, false)
}

// listObjects lists the live (or deleted) objects, by name, each with its
// current version's attributes and tags.
func (s *Server) listObjects(req *request, k kind, deleted bool) (int, any, *kvError) {
	if e := s.allowed(req.caller, k, "list"); e != nil {
		return 0, nil, e
	}
	s.mu.RLock()
	now := s.now()
	var items []any
	for _, key := range sortedKeys(s.objects(k)) {
		o := s.objects(k)[key]
		switch {
		case !deleted && o.Deleted == nil:
			items = append(items, s.item(k, o, o.current(), s.id(k, o.Name, "")))
		case deleted && o.Deleted != nil && !o.purged(now):
			items = append(items, s.item(k, o, o.current(), s.id(k, o.Name, "")))
		}
	}
	s.mu.RUnlock()
	path := "/" + k.collection
	if deleted {
		path = "/" + k.deleted
	}
	out, e := page(s, req, path, items)
	if e != nil {
		return 0, nil, e
	}
	return http.StatusOK, out, nil
}

// listVersions lists the versions of a live object, oldest first.
func (s *Server) listVersions(req *request, k kind, name string) (int, any, *kvError) {
	if e := s.allowed(req.caller, k, "list"); e != nil {
		return 0, nil, e
	}
	s.mu.RLock()
	o := s.lookup(k, name)
	if o == nil {
		s.mu.RUnlock()
		return 0, nil, k.errNotFound(name, "")
	}
	items := make([]any, 0, len(o.Versions))
	for _, v := range o.Versions {
		items = append(items, s.item(k, o, v, s.id(k, o.Name, v.ID)))
	}
	s.mu.RUnlock()
	out, e := page(s, req, "/"+k.collection+"/"+o.Name+"/versions", items)
	if e != nil {
		return 0, nil, e
	}
	return http.StatusOK, out, nil
}

func sortedKeys(m map[string]*object) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SetSecret stores value as a new version of the secret name (created if
// need be, enabled, no content type or tags), without the wire: for seeding
// a development vault. It returns the version's identifier.
func (s *Server) SetSecret(name, value string) (id string, err error) {
	o, v, e := s.setSecret(name, setSecretIn{Value: &value}, "seed")
	if e != nil {
		return "", fmt.Errorf("keyvault: set secret %q: %s", name, e.message)
	}
	return s.id(secretKind, o.Name, v.ID), nil
}
