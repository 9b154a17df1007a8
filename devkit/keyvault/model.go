package keyvault

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

const (
	// maxIntDate bounds nbf and exp (9999-12-31T23:59:59Z).
	maxIntDate = 253402300799
	maxTags    = 15
	// Tag name and value lengths: Key Vault documents 512 characters for
	// secrets and 256 for keys.
	maxSecretTagLen = 512
	maxKeyTagLen    = 256
	maxContentType  = 255
	maxPageSize     = 25
)

// attributesIn are the attributes a request may set. A member left out
// (or null) is left as it is.
type attributesIn struct {
	Enabled    *bool  `json:"enabled"`
	NotBefore  *int64 `json:"nbf"`
	Expires    *int64 `json:"exp"`
	Exportable *bool  `json:"exportable"`
}

func (a *attributesIn) check() *kvError {
	if a == nil {
		return nil
	}
	for name, t := range map[string]*int64{"nbf": a.NotBefore, "exp": a.Expires} {
		if t != nil && (*t < 0 || *t > maxIntDate) {
			return badParameter("The attribute '%s' must be seconds since 1970-01-01T00:00:00Z, before the year 10000.", name)
		}
	}
	if a.Exportable != nil && *a.Exportable {
		return badParameter("Exportable keys need a release policy, which the gatehouse development vault does not serve.")
	}
	return nil
}

// apply sets the given attributes on v (a copy).
func (a *attributesIn) apply(v *version) {
	if a == nil {
		return
	}
	if a.Enabled != nil {
		v.Enabled = *a.Enabled
	}
	if a.NotBefore != nil {
		nbf := *a.NotBefore
		v.NotBefore = &nbf
	}
	if a.Expires != nil {
		exp := *a.Expires
		v.Expires = &exp
	}
}

// attributesOut are a version's attributes as Key Vault answers them.
type attributesOut struct {
	Enabled         bool   `json:"enabled"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         int64  `json:"created"`
	Updated         int64  `json:"updated"`
	RecoveryLevel   string `json:"recoveryLevel"`
	RecoverableDays int    `json:"recoverableDays"`
	Exportable      *bool  `json:"exportable,omitempty"` // keys only
}

func attributesOf(k kind, v *version) attributesOut {
	a := attributesOut{Enabled: v.Enabled, NotBefore: v.NotBefore, Expires: v.Expires, Created: v.Created, Updated: v.Updated,
		RecoveryLevel: recoveryLevel, RecoverableDays: recoverableDays}
	if k == keyKind {
		exportable := v.Exportable
		a.Exportable = &exportable
	}
	return a
}

// deletedOut are the members a deleted object's answers add.
type deletedOut struct {
	RecoveryID         string `json:"recoveryId,omitempty"`
	DeletedDate        *int64 `json:"deletedDate,omitempty"`
	ScheduledPurgeDate *int64 `json:"scheduledPurgeDate,omitempty"`
}

func (s *Server) deletedOf(k kind, o *object) deletedOut {
	if o.Deleted == nil {
		return deletedOut{}
	}
	d, p := o.Deleted.Date, o.Deleted.ScheduledPurge
	return deletedOut{RecoveryID: s.vaultURL + "/" + k.deleted + "/" + o.Name, DeletedDate: &d, ScheduledPurgeDate: &p}
}

func checkTags(tags map[string]string, maxLen int) *kvError {
	if len(tags) > maxTags {
		return badParameter("An object can have at most %d tags; %d were given.", maxTags, len(tags))
	}
	for name, value := range tags {
		if name == "" || utf8.RuneCountInString(name) > maxLen || utf8.RuneCountInString(value) > maxLen {
			return badParameter("Tag names must be 1 to %d characters and values at most %d.", maxLen, maxLen)
		}
	}
	return nil
}

// id is the identifier of an object (version "": without a version).
func (s *Server) id(k kind, name, version string) string {
	id := s.vaultURL + "/" + k.collection + "/" + name
	if version != "" {
		id += "/" + version
	}
	return id
}

// listOut is a page of a list answer. NextLink is null on the last page.
type listOut struct {
	Value    any     `json:"value"`
	NextLink *string `json:"nextLink"`
}

// page cuts items to the page the request asks for (maxresults, at most 25;
// $skiptoken, an opaque offset) and links the next one.
func page[T any](s *Server, req *request, path string, items []T) (listOut, *kvError) {
	q := req.r.URL.Query()
	size := maxPageSize
	if m := q.Get("maxresults"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > maxPageSize {
			return listOut{}, badParameter("The value for parameter 'maxresults' must be an integer from 1 to %d.", maxPageSize)
		}
		size = n
	}
	start := 0
	if t := q.Get("$skiptoken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 || n > len(items) {
			return listOut{}, badParameter("The $skiptoken is not valid; start again from the first page.")
		}
		start = n
	}
	end := min(start+size, len(items))
	out := listOut{Value: append([]T{}, items[start:end]...)}
	if end < len(items) {
		next := s.vaultURL + path + "?api-version=" + req.apiVersion + "&$skiptoken=" +
			base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end))) + "&maxresults=" + strconv.Itoa(size)
		out.NextLink = &next
	}
	return out, nil
}
