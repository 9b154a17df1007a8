package sts

import "encoding/xml"

// callerIdentityResult is GetCallerIdentity's result. Beyond STS's Arn,
// UserId and Account it carries the session's source identity and tags as
// a development extension, so that a test or a curious developer can see
// them: the AWS SDKs skip unknown elements of a result (spec §3).
type callerIdentityResult struct {
	XMLName xml.Name `xml:"GetCallerIdentityResult"`
	Arn     string   `xml:"Arn"`
	UserID  string   `xml:"UserId"`
	Account string   `xml:"Account"`

	SourceIdentity    string      `xml:"SourceIdentity,omitempty"`
	PrincipalTags     *tagListXML `xml:"PrincipalTags,omitempty"`
	TransitiveTagKeys *keyListXML `xml:"TransitiveTagKeys,omitempty"`
}

type tagListXML struct {
	Members []tagXML `xml:"member"`
}

type tagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type keyListXML struct {
	Members []string `xml:"member"`
}

func callerIdentity(account string, s *Session) callerIdentityResult {
	res := callerIdentityResult{Arn: s.AssumedRoleARN, UserID: s.AssumedRoleID, Account: account, SourceIdentity: s.SourceIdentity}
	if len(s.Tags) > 0 {
		res.PrincipalTags = &tagListXML{}
		for _, k := range sortedKeys(s.Tags) {
			res.PrincipalTags.Members = append(res.PrincipalTags.Members, tagXML{k, s.Tags[k]})
		}
	}
	if len(s.TransitiveTagKeys) > 0 {
		res.TransitiveTagKeys = &keyListXML{Members: s.TransitiveTagKeys}
	}
	return res
}
