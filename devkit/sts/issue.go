package sts

import (
	"encoding/base32"
	"encoding/base64"
	"errors"
	"time"
)

var errUnknownRole = errors.New("no such role")

// setTagKeys sets the tag condition keys of a request: aws:RequestTag/<key>
// per tag, aws:TagKeys and sts:TransitiveTagKeys (present only when the
// request carries tags).
func setTagKeys(rc *requestContext, tags map[string]string, transitive []string) {
	if len(tags) == 0 {
		return
	}
	keys := make([]string, 0, len(tags))
	for k, v := range tags {
		rc.set("aws:RequestTag/"+k, v)
		keys = append(keys, k)
	}
	rc.set("aws:TagKeys", keys...)
	rc.set("sts:TransitiveTagKeys", transitive...)
}

// authorize evaluates the role's trust policy for action, and also for
// sts:TagSession when the session gets tags and sts:SetSourceIdentity when
// it gets a source identity: each must be allowed and none denied.
func (s *Server) authorize(rl *role, action string, rc *requestContext, tagged, sourced bool, denied *Error) error {
	actions := []string{action}
	if tagged {
		actions = append(actions, "sts:TagSession")
	}
	if sourced {
		actions = append(actions, "sts:SetSourceIdentity")
	}
	for _, a := range actions {
		d := rl.trust.evaluate(a, rc)
		if d.allow {
			continue
		}
		why := "no statement allows " + a
		if d.by != "" {
			why = "statement " + d.by + " denies " + a
		}
		e := *denied
		if a != action {
			e.Message += " (" + a + " is not allowed)"
		}
		return e.withCause(errors.New(why))
	}
	return nil
}

// issueRequest is what a new session is made of.
type issueRequest struct {
	sessionName    string
	sourceIdentity string
	tags           map[string]string
	transitive     []string
	policy         string
	policyArns     []string
	duration       time.Duration
	minTokenSize   int // MinimumSessionTokenSize, 0 if not given
}

// issued is a new session and the sizes STS reports about it.
type issued struct {
	sess *Session
	// packedPolicySize is the percentage of the packed budget the session
	// policies and tags use; nil when the request had neither.
	packedPolicySize *int
	tokenSize        int // bytes of the session token
	tokenUtilization int // percentage of the 4096-byte maximum
}

// Session token sizes (STS since SDK release 2026-09: tokens of at most
// 4096 bytes that grow with the packed session policies and tags).
const (
	maxSessionTokenBytes = 4096
	// baseTokenBytes of randomness make a token of 128 characters.
	baseTokenBytes = 96
	// packedBudget is what the packed session state may add to the token
	// and still fit: 4096-128 base64 characters.
	packedBudget = (maxSessionTokenBytes - 128) / 4 * 3
)

// issue checks the packed size, mints credentials from Rand and stores the
// session. The session token's length follows the packed session state
// (random bytes standing in for it: tokens are opaque) and
// MinimumSessionTokenSize.
func (s *Server) issue(rl *role, in issueRequest) (*issued, error) {
	out := &issued{}
	packed := 0
	if in.policy != "" || len(in.policyArns) > 0 || len(in.tags) > 0 {
		packed = packedBytes(in.policy, in.policyArns, in.tags, in.transitive)
		pct := (packed*100 + packedBudget - 1) / packedBudget
		if pct > 100 {
			return nil, newError(codePackedPolicyTooLarge, "Packed size of the session policies and session tags is %d%% of the limit.", pct)
		}
		out.packedPolicySize = &pct
	}
	tokenBytes := max(baseTokenBytes+packed, (in.minTokenSize*3+3)/4)
	b, err := s.random(10 + 30 + tokenBytes)
	if err != nil {
		return nil, newError(codeInternalFailure, "An internal error occurred.").withCause(err)
	}
	now := s.now()
	sess := &Session{
		// ASIA + 16 base32 characters: the shape of temporary access keys.
		AccessKeyID:       "ASIA" + base32.StdEncoding.EncodeToString(b[:10]),
		SecretAccessKey:   base64.StdEncoding.EncodeToString(b[10:40]),
		SessionToken:      base64.StdEncoding.EncodeToString(b[40:]),
		RoleARN:           rl.arn,
		AssumedRoleARN:    "arn:aws:sts::" + s.account + ":assumed-role/" + rl.shortName + "/" + in.sessionName,
		AssumedRoleID:     rl.id + ":" + in.sessionName,
		SessionName:       in.sessionName,
		SourceIdentity:    in.sourceIdentity,
		Tags:              in.tags,
		TransitiveTagKeys: in.transitive,
		SessionPolicy:     in.policy,
		Expiration:        now.Add(in.duration).UTC().Truncate(time.Second),
		Invoke:            rl.invoke,
		Policy:            rl.policyDoc,
		identity:          rl.policy,
	}
	if in.policy != "" {
		// Validated by AssumeRole*; a policy that still fails to parse
		// leaves session nil, and Allowed then allows nothing.
		sess.session, _ = parsePermissionPolicy([]byte(in.policy), false)
	}
	s.sessions.put(sess, now)
	out.sess = sess.clone()
	out.tokenSize = len(sess.SessionToken)
	out.tokenUtilization = (out.tokenSize*100 + maxSessionTokenBytes - 1) / maxSessionTokenBytes
	return out, nil
}

func credentialsOf(s *Session) credentialsXML {
	return credentialsXML{
		AccessKeyID:     s.AccessKeyID,
		SecretAccessKey: s.SecretAccessKey,
		SessionToken:    s.SessionToken,
		Expiration:      s.Expiration.UTC().Format(time.RFC3339),
	}
}

// HostSession issues a session of the role roleARN to the local machine
// itself, with no request and no trust policy: the local stand-in for an
// instance profile or a task role, whose credentials AWS hands a workload
// without it proving anything. `gatehouse dev` uses it for its own calls
// to the local KMS and Secrets Manager (its issuer's key is in the local
// KMS, so web identity, which that key signs, cannot be how it gets
// there). Nothing reachable over the network can call it.
func (s *Server) HostSession(roleARN, sessionName string, duration time.Duration) (*Session, error) {
	rl, ok := s.roles[roleARN]
	if !ok {
		return nil, errUnknownRole
	}
	if duration <= 0 || duration > rl.maxDuration {
		duration = time.Hour
	}
	out, err := s.issue(rl, issueRequest{sessionName: sessionName, duration: duration})
	if err != nil {
		return nil, err
	}
	return out.sess, nil
}
