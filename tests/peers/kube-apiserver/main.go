// A stand-in for kube-apiserver's JWT authenticator, for the kubectl tests (kube-apiserver itself cannot run
// here). It serves HTTPS and authenticates every request's bearer token the way the API server does with a
// structured AuthenticationConfiguration: go-oidc (the library the API server's OIDC authenticator is built on)
// finds the issuer's keys by discovery and checks the signature, the issuer, an audience and expiry; then the
// claim validation rules (claim + requiredValue) and the username and groups mappings (claim + prefix) apply.
// The config is read strictly: an unknown field, a second issuer or an unsupported rule is a start-up error.
//
//	kube-apiserver-standin LISTEN CERT KEY AUTHENTICATION_CONFIG_JSON LOG
//
// Answers GET /api, GET /apis and POST /apis/authentication.k8s.io/v1/selfsubjectreviews (kubectl auth whoami)
// for an authenticated request, 401 otherwise. Appends one JSON line per request to LOG: the path, the SHA-256
// of the token (never the token), and the identity or the error. Prints "ready" on stdout once listening.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	oidc "github.com/coreos/go-oidc"
)

type prefixedClaim struct {
	Claim  string `json:"claim"`
	Prefix string `json:"prefix"`
}

type authenticationConfiguration struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	JWT        []struct {
		Issuer struct {
			URL                  string   `json:"url"`
			Audiences            []string `json:"audiences"`
			AudienceMatchPolicy  string   `json:"audienceMatchPolicy"`
			CertificateAuthority string   `json:"certificateAuthority"`
		} `json:"issuer"`
		ClaimValidationRules []struct {
			Claim         string `json:"claim"`
			RequiredValue string `json:"requiredValue"`
		} `json:"claimValidationRules"`
		ClaimMappings struct {
			Username *prefixedClaim `json:"username"`
			Groups   *prefixedClaim `json:"groups"`
		} `json:"claimMappings"`
	} `json:"jwt"`
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func load(path string) authenticationConfiguration {
	raw, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	var config authenticationConfiguration
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&config); err != nil {
		fail(fmt.Errorf("authentication config: %v", err))
	}
	if config.APIVersion != "apiserver.config.k8s.io/v1beta1" || config.Kind != "AuthenticationConfiguration" {
		fail(fmt.Errorf("authentication config: unexpected %s %s", config.APIVersion, config.Kind))
	}
	if len(config.JWT) != 1 || config.JWT[0].ClaimMappings.Username == nil {
		fail(fmt.Errorf("authentication config: expected one jwt issuer with a username mapping"))
	}
	jwt := config.JWT[0]
	if len(jwt.Issuer.Audiences) > 1 && jwt.Issuer.AudienceMatchPolicy != "MatchAny" {
		fail(fmt.Errorf("authentication config: several audiences need audienceMatchPolicy MatchAny"))
	}
	return config
}

type identity struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

type authenticator struct {
	config   authenticationConfiguration
	verifier *oidc.IDTokenVerifier
}

func (a *authenticator) authenticate(ctx context.Context, raw string) (*identity, error) {
	jwt := a.config.JWT[0]
	token, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	audienceOK := false
	for _, want := range jwt.Issuer.Audiences {
		for _, got := range token.Audience {
			audienceOK = audienceOK || want == got
		}
	}
	if !audienceOK {
		return nil, fmt.Errorf("none of the audiences %v is accepted", token.Audience)
	}
	var claims map[string]interface{}
	if err := token.Claims(&claims); err != nil {
		return nil, err
	}
	for _, rule := range jwt.ClaimValidationRules {
		if value, _ := claims[rule.Claim].(string); value != rule.RequiredValue {
			return nil, fmt.Errorf("claim %q is %q, not the required %q", rule.Claim, value, rule.RequiredValue)
		}
	}
	username, ok := claims[jwt.ClaimMappings.Username.Claim].(string)
	if !ok || username == "" {
		return nil, fmt.Errorf("no string claim %q for the username", jwt.ClaimMappings.Username.Claim)
	}
	who := &identity{Username: jwt.ClaimMappings.Username.Prefix + username, Groups: []string{}}
	if groups := jwt.ClaimMappings.Groups; groups != nil {
		switch value := claims[groups.Claim].(type) {
		case string:
			who.Groups = append(who.Groups, groups.Prefix+value)
		case []interface{}:
			for _, item := range value {
				name, ok := item.(string)
				if !ok {
					return nil, fmt.Errorf("claim %q holds a non-string group", groups.Claim)
				}
				who.Groups = append(who.Groups, groups.Prefix+name)
			}
		case nil:
		default:
			return nil, fmt.Errorf("claim %q is neither a string nor an array of strings", groups.Claim)
		}
	}
	who.Groups = append(who.Groups, "system:authenticated")
	return who, nil
}

func main() {
	if len(os.Args) != 6 {
		fail(fmt.Errorf("usage: kube-apiserver-standin LISTEN CERT KEY AUTHENTICATION_CONFIG_JSON LOG"))
	}
	config := load(os.Args[4])
	// The provider keeps this context for every later key fetch: it must outlive start-up (the client bounds
	// each fetch instead).
	ctx := oidc.ClientContext(context.Background(), &http.Client{Timeout: 20 * time.Second})
	provider, err := oidc.NewProvider(ctx, config.JWT[0].Issuer.URL)
	if err != nil {
		fail(err)
	}
	algs := []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"}
	auth := &authenticator{config: config, verifier: provider.Verifier(&oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: algs})}
	logFile, err := os.OpenFile(os.Args[5], os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		fail(err)
	}
	var logMutex sync.Mutex
	record := func(entry map[string]interface{}) {
		line, _ := json.Marshal(entry)
		logMutex.Lock()
		defer logMutex.Unlock()
		logFile.Write(append(line, '\n'))
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entry := map[string]interface{}{"method": r.Method, "path": r.URL.Path}
		w.Header().Set("Content-Type", "application/json")
		raw := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		var who *identity
		err := fmt.Errorf("no bearer token")
		if raw != "" && raw != r.Header.Get("Authorization") {
			sum := sha256.Sum256([]byte(raw))
			entry["token_sha256"] = hex.EncodeToString(sum[:])
			who, err = auth.authenticate(r.Context(), raw)
		}
		if err != nil {
			entry["error"] = err.Error()
			record(entry)
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]interface{}{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Unauthorized", "code": 401, "message": "Unauthorized"})
			return
		}
		entry["username"], entry["groups"] = who.Username, who.Groups
		record(entry)
		switch {
		case r.Method == "GET" && r.URL.Path == "/api":
			json.NewEncoder(w).Encode(map[string]interface{}{"kind": "APIVersions", "versions": []string{"v1"}, "serverAddressByClientCIDRs": []interface{}{map[string]string{"clientCIDR": "0.0.0.0/0", "serverAddress": r.Host}}})
		case r.Method == "GET" && r.URL.Path == "/apis":
			json.NewEncoder(w).Encode(map[string]interface{}{"kind": "APIGroupList", "apiVersion": "v1", "groups": []interface{}{}})
		case r.Method == "POST" && r.URL.Path == "/apis/authentication.k8s.io/v1/selfsubjectreviews":
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]interface{}{"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1", "metadata": map[string]interface{}{"creationTimestamp": nil}, "status": map[string]interface{}{"userInfo": who}})
		default:
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]interface{}{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
		}
	})
	listener, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fail(err)
	}
	fmt.Println("ready")
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	fail(server.ServeTLS(listener, os.Args[2], os.Args[3]))
}
