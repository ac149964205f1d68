package sshserver

import (
	"errors"
	"fmt"

	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"

	"github.com/sshgress/sshgress/core/account"
	"github.com/sshgress/sshgress/core/sshkey"
)

// keyRule says in words which keys checkKeyType accepts.
var keyRule = sshkey.Rule

// makeKeyHint is the command that makes a key the edge accepts.
const makeKeyHint = "ssh-keygen -t ed25519"

// authBanner is sent to every client before it authenticates
// (SSH_MSG_USERAUTH_BANNER): a client with no usable key otherwise learns
// only "Permission denied (publickey)". OpenSSH prints it on stderr unless
// LogLevel is QUIET, FATAL or ERROR.
func (s *Server) authBanner(ssh.ConnMetadata) string {
	msg := "sshgress: this edge logs you in with an SSH key: " + keyRule + ".\n" +
		"No such key yet? Make one with: " + makeKeyHint + "\n"
	if s.anonymous() {
		return msg + "Any such key is accepted here: this edge has no accounts and takes connections from its own machine only.\n"
	}
	if s.cfg.Registrar != nil {
		msg += "New here? Ask the operator for an invite code, then run: ssh " + s.cfg.PublicHost + " register CODE\n"
	}
	return msg + "Then send your public key (the .pub file, e.g. ~/.ssh/id_ed25519.pub; never the private key) to the operator of this edge, who adds it to your account (sshgress admin keys add, or accounts[].keys in the config file).\n"
}

// anonymous reports whether any acceptable key logs in, as the local
// account: no accounts are configured and the edge allows it.
func (s *Server) anonymous() bool {
	return (s.cfg.Accounts == nil || s.cfg.Accounts.Len() == 0) && s.cfg.AllowAnonymous
}

// checkKey decides whether key may log in and as which account. x/crypto
// binds the returned Permissions to this exact key: whatever keys a client
// offers, the connection's identity is the key it proved it holds. A
// refusal carries a banner that tells the user why, and is logged with
// the key's fingerprint (never more of the key).
func (s *Server) checkKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	fp := ssh.FingerprintSHA256(key)
	if err := checkKeyType(key); err != nil {
		s.log.Info("ssh key refused", "remote", meta.RemoteAddr().String(), "user", meta.User(), "key", fp, "type", key.Type(), "reason", err)
		return nil, &ssh.BannerError{Err: err, Message: fmt.Sprintf(
			"sshgress: your key %s is refused: %s; make an ed25519 key with: %s\n",
			fp, userReason(err), makeKeyHint)}
	}
	var name string
	switch {
	case s.cfg.Registrar != nil && (s.cfg.Accounts == nil || s.cfg.Accounts.ByKey(key) == nil):
		s.log.Info("ssh key not in any account: it may only register", "remote", meta.RemoteAddr().String(), "user", meta.User(), "key", fp)
		return unregisteredPerms(key, fp), nil
	case s.anonymous():
		name = account.Anonymous().Name
	case s.cfg.Accounts == nil || s.cfg.Accounts.Len() == 0:
		return nil, errors.New("sshserver: no accounts")
	default:
		a := s.cfg.Accounts.ByKey(key)
		if a == nil {
			s.log.Info("ssh key refused", "remote", meta.RemoteAddr().String(), "user", meta.User(), "key", fp, "type", key.Type(), "reason", "not in any account")
			return nil, &ssh.BannerError{Err: errors.New("sshserver: unknown public key"), Message: fmt.Sprintf(
				"sshgress: your key %s is not in any account on this edge; send its .pub file to the edge's operator.\n", fp)}
		}
		name = a.Name
	}
	return &ssh.Permissions{Extensions: map[string]string{
		extAccount:     name,
		extFingerprint: fp,
	}}, nil
}

// userReason is the part of a checkKeyType error meant for the user.
func userReason(err error) string { return sshkey.Reason(err) }

// checkKeyType refuses weak and oversized keys before any signature is
// verified, so a 16384-bit RSA key costs nothing (sshkey.Check).
func checkKeyType(key ssh.PublicKey) error { return sshkey.Check(key) }
