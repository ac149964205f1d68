package oauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// identify redeems code and returns who signed in.
func (p *provider) identify(ctx context.Context, cfg *oauth2.Config, code, verifier, nonce string) (identity, error) {
	ctx = p.clientContext(ctx)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return identity{}, fmt.Errorf("oauth: redeem code at %s: %w", p.name, err)
	}
	if p.kind == kindGitHub {
		return p.identifyGitHub(ctx, tok)
	}
	return p.identifyOIDC(ctx, tok, nonce)
}

func (p *provider) identifyOIDC(ctx context.Context, tok *oauth2.Token, nonce string) (identity, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return identity{}, fmt.Errorf("oauth: %s: the token response holds no id_token", p.name)
	}
	p.mu.Lock()
	verifier, op := p.verifier, p.oidc
	p.mu.Unlock()
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return identity{}, fmt.Errorf("oauth: %s: verify id token: %w", p.name, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return identity{}, fmt.Errorf("oauth: %s: id token nonce does not match", p.name)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return identity{}, fmt.Errorf("oauth: %s: id token claims: %w", p.name, err)
	}
	if p.kind == kindMicrosoft {
		tid, _ := claims["tid"].(string)
		if want := microsoftLogin + tid + "/v2.0"; tid == "" || idt.Issuer != want {
			return identity{}, fmt.Errorf("oauth: microsoft: id token issuer %q does not match its tenant %q", idt.Issuer, tid)
		}
		if msTenantRE.MatchString(p.tenant) && strings.Count(p.tenant, "-") == 4 && tid != p.tenant {
			return identity{}, fmt.Errorf("oauth: microsoft: id token from tenant %q, want %q", tid, p.tenant)
		}
	}
	if _, ok := claims["email"]; !ok && op.UserInfoEndpoint() != "" {
		// Some providers put the email only in the userinfo response.
		if ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
			var uc map[string]any
			if ui.Claims(&uc) == nil && uc["sub"] == claims["sub"] {
				for _, k := range []string{"email", "email_verified", "name", "preferred_username"} {
					if _, have := claims[k]; !have && uc[k] != nil {
						claims[k] = uc[k]
					}
				}
			}
		}
	}
	return mapClaims(p.kind, p.tenant, claims)
}

// mapClaims turns verified ID token claims into an identity. The email
// counts as verified only when the provider vouches for it: the
// email_verified claim, or for Microsoft the xms_edov claim, a configured
// single tenant, or a personal Microsoft account.
func mapClaims(k kind, tenant string, claims map[string]any) (identity, error) {
	id := identity{
		Subject: claimString(claims, "sub"),
		Email:   strings.TrimSpace(claimString(claims, "email")),
		Name:    firstNonEmpty(claimString(claims, "name"), claimString(claims, "preferred_username"), claimString(claims, "nickname")),
	}
	if id.Subject == "" {
		return identity{}, errors.New("oauth: id token has no sub")
	}
	id.EmailVerified = claimBool(claims, "email_verified")
	if k == kindMicrosoft {
		tid := claimString(claims, "tid")
		singleTenant := strings.Count(tenant, "-") == 4 && tid == tenant
		trusted := claimBool(claims, "xms_edov") || singleTenant || tid == microsoftConsumers
		if id.Email == "" && trusted {
			if upn := claimString(claims, "preferred_username"); strings.Contains(upn, "@") {
				id.Email = upn
			}
		}
		id.EmailVerified = id.EmailVerified || trusted
	}
	if id.Email == "" {
		id.EmailVerified = false
	}
	if id.Name == "" {
		id.Name = id.Email
	}
	return id, nil
}

func claimString(claims map[string]any, k string) string {
	switch v := claims[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// claimBool reads a boolean claim, also in the string form some providers
// send ("true").
func claimBool(claims map[string]any, k string) bool {
	switch v := claims[k].(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// identifyGitHub reads the user and their primary verified email from the
// GitHub API.
func (p *provider) identifyGitHub(ctx context.Context, tok *oauth2.Token) (identity, error) {
	user, err := p.githubGet(ctx, tok, "/user")
	if err != nil {
		return identity{}, err
	}
	emails, err := p.githubGet(ctx, tok, "/user/emails")
	if err != nil {
		return identity{}, err
	}
	return mapGitHub(user, emails)
}

func (p *provider) githubGet(ctx context.Context, tok *oauth2.Token, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", p.apiURL+path, nil)
	if err != nil {
		return nil, fmt.Errorf("oauth: github %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("oauth: github %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody+1))
	if err != nil {
		return nil, fmt.Errorf("oauth: github %s: %w", path, err)
	}
	if len(body) > maxAPIBody {
		return nil, fmt.Errorf("oauth: github %s: response over %d bytes", path, maxAPIBody)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("oauth: github %s: %s", path, resp.Status)
	}
	return body, nil
}

// mapGitHub turns GitHub's /user and /user/emails responses into an
// identity: the stable numeric id as subject, the primary email, verified
// only if GitHub says so.
func mapGitHub(userJSON, emailsJSON []byte) (identity, error) {
	var user struct {
		ID    json.Number `json:"id"`
		Login string      `json:"login"`
		Name  string      `json:"name"`
		Email string      `json:"email"`
	}
	if err := json.Unmarshal(userJSON, &user); err != nil {
		return identity{}, fmt.Errorf("oauth: github /user: %w", err)
	}
	if user.ID == "" {
		return identity{}, errors.New("oauth: github /user: no id")
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := json.Unmarshal(emailsJSON, &emails); err != nil {
		return identity{}, fmt.Errorf("oauth: github /user/emails: %w", err)
	}
	id := identity{Subject: user.ID.String(), Name: firstNonEmpty(user.Name, user.Login), Email: user.Email}
	for _, e := range emails {
		if e.Primary {
			id.Email, id.EmailVerified = e.Email, e.Verified && e.Email != ""
			break
		}
	}
	if id.Name == "" {
		id.Name = id.Email
	}
	return id, nil
}
