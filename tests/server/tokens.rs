//! Tokens against the running server (DESIGN §6): every bad token, local or from an OpenID
//! Connect provider, gets the same 401 over HTTP and closes the WebSocket with 4403; a provider's
//! identity is the person an administrator linked it to, with that person's roles; first login
//! follows the configured policy. The provider is the committed test-only JWKS of
//! `tests/fixtures/oidc`.

use crate::support::*;
use carnet_api::auth::{AUDIENCE, LOCAL_ISSUER};
use carnet_api::identity::FirstLogin;
use carnet_api::jwks::{OidcAlgorithm, OidcProvider};
use carnet_domain::person::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/oidc");
pub(crate) const ISSUER: &str = "https://auth.example.gouv.fr/api/v2";
/// The same keys, RS256 only.
const RS_ONLY: &str = "https://rs-only.example.gouv.fr";
const CLIENT: &str = "carnet-front";
pub(crate) const SUB: &str = "agent-7f3a";
const PROTECTED: &str = "{ projects(first: 1) { totalCount } }";

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The DER inside a PEM fixture.
pub(crate) fn der(name: &str) -> Vec<u8> {
    use base64::Engine;
    let pem = String::from_utf8(fixture(name)).expect("PEM");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("base64")
}

pub(crate) fn private_key(alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_der(&der("rsa.pem")),
        Algorithm::ES256 => EncodingKey::from_ec_der(&der("ec.pem")),
        Algorithm::EdDSA => EncodingKey::from_ed_der(&der("ed25519.pem")),
        other => panic!("no fixture key for {other:?}"),
    }
}

pub(crate) fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

/// A token of the provider, signed with the fixture key of `alg` under `kid`.
pub(crate) fn token(alg: Algorithm, kid: &str, claims: &Value) -> String {
    sign(alg, Some(kid), claims, &private_key(alg))
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An ID token as ProConnect issues them (`usual_name` for the family name).
pub(crate) fn claims(sub: &str) -> Value {
    json!({
        "sub": sub, "iss": ISSUER, "aud": CLIENT, "exp": now() + 3600, "iat": now(),
        "given_name": "Camille", "usual_name": "Durand", "email": "camille.durand@example.org"
    })
}

pub(crate) fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().expect("an object") {
        if v.is_null() {
            claims.as_object_mut().expect("an object").remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

pub(crate) fn provider(issuer: &str) -> OidcProvider {
    OidcProvider {
        issuer: issuer.into(),
        audience: CLIENT.into(),
        jwks_file: Some(format!("{FIXTURES}/jwks.json")),
        ..Default::default()
    }
}

/// `query` as `token`, which must be accepted (200).
async fn query_as(app: &TestApp, token: &str, query: &str) -> Value {
    let res = app.post_query(Some(token), query, &[]).await;
    assert_eq!(res.status(), 200, "token refused for {query}");
    res.json().await.expect("JSON")
}

/// Registers a person as ADMIN, links `identities` to them and grants `role` (with académies):
/// the way an administrator lets a provider's user in. Returns the person's id.
pub(crate) async fn admit(app: &TestApp, identities: &[(&str, &str)], role: Option<(&str, &[&str])>) -> Value {
    let admin = app.token(Role::Admin, &[]);
    let register = "mutation { registerPerson(input: { profile: { givenName: \"Camille\", usualName: \"Durand\" } }) \
                    { person { id } } }";
    let res = app.graphql_as(Some(&admin), register, json!({})).await;
    let person = res["data"]["registerPerson"]["person"]["id"].clone();
    assert!(person.is_string(), "{res}");
    let link = "mutation($p: ID!, $iss: String!, $sub: String!) { \
                linkPersonIdentity(input: { personId: $p, issuer: $iss, sub: $sub }) { person { id } } }";
    for (issuer, sub) in identities {
        let res = app.graphql_as(Some(&admin), link, json!({ "p": person, "iss": issuer, "sub": sub })).await;
        assert!(res["errors"].is_null(), "{res}");
    }
    if let Some((role, academies)) = role {
        let grant = "mutation($p: ID!, $role: Role!, $a: [String!]!) { \
                     grantPersonRole(input: { personId: $p, role: $role, academieCodes: $a }) { person { roles { code } } } }";
        let res = app.graphql_as(Some(&admin), grant, json!({ "p": person, "role": role, "a": academies })).await;
        assert!(res["errors"].is_null(), "{res}");
    }
    person
}

/// A provider token with exactly this header, signed with the fixture RSA key.
fn raw_sign(header: Value, claims: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let message = format!("{}.{}", b64(&header), b64(claims));
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &private_key(Algorithm::RS256), Algorithm::RS256).expect("sign");
    format!("{message}.{signature}")
}

/// A local token signed with the server's secret, with `header_extra` in its header and
/// `changes` to the claims `carnet token` writes (an ADMIN's).
fn local(app: &TestApp, header_extra: Value, changes: Value) -> String {
    use base64::Engine;
    let secret = std::fs::read(&app.secret).expect("the server's secret");
    let mut header = json!({ "alg": "HS256", "typ": "JWT" });
    for (k, v) in header_extra.as_object().expect("an object") {
        header[k] = v.clone();
    }
    let claims = with(
        json!({ "sub": "operator", "iss": LOCAL_ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 3600,
                "roles": ["ADMIN"], "academies": [] }),
        changes,
    );
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let message = format!("{}.{}", b64(&header), b64(&claims));
    let key = EncodingKey::from_secret(secret.trim_ascii());
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).expect("sign");
    format!("{message}.{signature}")
}

/// The 401 every refusal gets: `WWW-Authenticate: Bearer` and one body, whose `requestId` is
/// the response's `x-request-id`.
async fn assert_refused(what: &str, res: reqwest::Response) {
    assert_eq!(res.status(), 401, "{what}");
    assert_eq!(res.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"), "{what}");
    let request_id = res.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut body: Value = res.json().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let id = body["errors"][0]["extensions"].as_object_mut().and_then(|x| x.remove("requestId"));
    assert_eq!(id.as_ref().and_then(Value::as_str), request_id.as_deref(), "{what}: the request id, as in the logs");
    assert_eq!(
        body,
        json!({ "errors": [{ "message": "authentification requise", "extensions": { "code": "UNAUTHENTICATED" } }] }),
        "{what}"
    );
}

#[tokio::test]
async fn every_refused_token_gets_the_same_401_and_a_closed_websocket() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, |c| {
        c.oidc = vec![provider(ISSUER), OidcProvider { algorithms: vec![OidcAlgorithm::RS256], ..provider(RS_ONLY) }];
    })
    .await;
    admit(&app, &[(ISSUER, SUB), (RS_ONLY, SUB)], Some(("LAB_TEAM", &[]))).await;

    let good = claims(SUB);
    let rs = |claims: &Value| token(Algorithm::RS256, "rsa-1", claims);
    let es_for_rs_only = token(Algorithm::ES256, "ec-1", &with(good.clone(), json!({ "iss": RS_ONLY })));
    for (what, accepted) in [
        ("RS256", rs(&good)),
        ("ES256", token(Algorithm::ES256, "ec-1", &good)),
        ("EdDSA", token(Algorithm::EdDSA, "ed-1", &good)),
        ("RS256 from the RS256-only provider", rs(&with(good.clone(), json!({ "iss": RS_ONLY })))),
    ] {
        let res = query_as(&app, &accepted, PROTECTED).await;
        assert_eq!(res["data"]["projects"]["totalCount"], 0, "{what}: {res}");
    }

    let other_secret = carnet_api::auth::TokenVerifier::from_secret(b"not the server's secret, not at all").mint(
        "x",
        &[Role::Admin],
        &[],
        1,
    );
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        (
            "bad signature",
            Some(sign(Algorithm::RS256, Some("rsa-1"), &good, &EncodingKey::from_rsa_der(&der("rsa-other.pem")))),
        ),
        ("an algorithm not configured (ES256 for an RS256-only provider)", Some(es_for_rs_only)),
        (
            "alg none",
            Some({
                use base64::Engine;
                let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
                format!("{}.{}.", b64(json!({ "alg": "none", "kid": "rsa-1" })), b64(good.clone()))
            }),
        ),
        (
            "HS/RS confusion (HS256 keyed with the RSA public key)",
            Some(sign(Algorithm::HS256, Some("rsa-1"), &good, &EncodingKey::from_secret(&fixture("rsa-public.pem")))),
        ),
        ("unknown kid", Some(token(Algorithm::RS256, "rsa-9", &good))),
        ("missing kid", Some(sign(Algorithm::RS256, None, &good, &private_key(Algorithm::RS256)))),
        ("expired", Some(rs(&with(good.clone(), json!({ "exp": now() - 120 }))))),
        ("not yet valid", Some(rs(&with(good.clone(), json!({ "nbf": now() + 120 }))))),
        ("wrong iss", Some(rs(&with(good.clone(), json!({ "iss": "https://evil.example" }))))),
        ("wrong aud", Some(rs(&with(good.clone(), json!({ "aud": "another-app" }))))),
        ("exp as a string", Some(rs(&with(good.clone(), json!({ "exp": "99999999999" }))))),
        ("100 KB", Some(rs(&with(good.clone(), json!({ "padding": "x".repeat(100 * 1024) }))))),
        ("JWK alg mismatch", Some(token(Algorithm::RS256, "rsa-ps", &good))),
        ("an identity linked to nobody", Some(rs(&claims("agent-unknown")))),
        ("a local token of another secret", Some(other_secret)),
        ("a local token signed RS256", Some(rs(&with(good.clone(), json!({ "iss": LOCAL_ISSUER, "aud": AUDIENCE }))))),
        // RFC 8725
        (
            "an unknown crit header",
            Some(raw_sign(json!({ "alg": "RS256", "kid": "rsa-1", "crit": ["exp-ext"], "exp-ext": 1 }), &good)),
        ),
        ("an iat in the future", Some(rs(&with(good.clone(), json!({ "iat": now() + 3600 }))))),
        ("an empty sub", Some(rs(&with(good.clone(), json!({ "sub": "" }))))),
        ("a local token with an unknown crit header", Some(local(&app, json!({ "crit": ["b64"] }), json!({})))),
        ("a local token issued in the future", Some(local(&app, json!({}), json!({ "iat": now() + 3600 })))),
        ("a local token with an empty sub", Some(local(&app, json!({}), json!({ "sub": "" })))),
    ];
    // the forging helpers themselves make accepted tokens
    assert_eq!(app.post_query(Some(&local(&app, json!({}), json!({}))), PROTECTED, &[]).await.status(), 200);
    let plain = raw_sign(json!({ "alg": "RS256", "kid": "rsa-1" }), &good);
    assert_eq!(app.post_query(Some(&plain), PROTECTED, &[]).await.status(), 200);
    for (what, bad) in &cases {
        assert_refused(what, app.post_query(bad.as_deref(), PROTECTED, &[]).await).await;
    }

    drop(app.ws_as(&rs(&good)).await); // an accepted provider token gets `connection_ack`
    for (what, bad) in cases.iter().filter(|(what, _)| *what != "100 KB") {
        let Some(bad) = bad else { continue };
        let mut ws = app.ws().await;
        ws.init(json!({ "Authorization": format!("Bearer {bad}") })).await;
        assert_eq!(ws.closed().await.0, 4403, "{what} over the WebSocket");
    }
}

#[tokio::test]
async fn a_linked_provider_identity_has_the_persons_roles() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, |c| c.oidc = vec![provider(ISSUER)]).await;
    admit(&app, &[(ISSUER, SUB)], Some(("ACADEMIE", &["01"]))).await;

    let me = "{ me { sub issuer roles { code } academies } }";
    let res = query_as(&app, &token(Algorithm::RS256, "rsa-1", &claims(SUB)), me).await;
    assert_eq!(
        res["data"]["me"],
        json!({ "sub": SUB, "issuer": ISSUER, "roles": [{ "code": "ACADEMIE" }], "academies": ["01"] }),
        "{res}"
    );
    assert_refused(
        "first login refused by default",
        app.post_query(Some(&token(Algorithm::RS256, "rsa-1", &claims("agent-unknown"))), me, &[]).await,
    )
    .await;
    let people: i64 = sqlx::query_scalar("select count(*) from person").fetch_one(&db.pool).await.expect("count");
    assert_eq!(people, 1, "nobody registered");
}

#[tokio::test]
async fn first_login_registers_one_person_with_no_role() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, |c| {
        c.oidc = vec![provider(ISSUER)];
        c.first_login = FirstLogin::Register;
    })
    .await;
    let newcomer = token(Algorithm::ES256, "ec-1", &claims("agent-new"));
    let me = "{ me { sub roles { code } academies } }";
    // five first requests at once: one person
    let answers = futures::future::join_all((0..5).map(|_| query_as(&app, &newcomer, me))).await;
    for res in &answers {
        assert_eq!(res["data"]["me"], json!({ "sub": "agent-new", "roles": [], "academies": [] }), "{res}");
    }
    let forbidden = query_as(&app, &newcomer, PROTECTED).await;
    assert_eq!(forbidden["errors"][0]["extensions"]["code"], "FORBIDDEN", "no role, no projects: {forbidden}");

    let people: Vec<uuid::Uuid> =
        sqlx::query_scalar("select id from person").fetch_all(&db.pool).await.expect("people");
    assert_eq!(people.len(), 1, "{people:?}");
    let registered: i64 = sqlx::query_scalar("select count(*) from events where event_type = 'PersonRegistered'")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(registered, 1, "one registration in the log");
    use base64::Engine;
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("Person:{}", people[0]));
    let admin = app.token(Role::Admin, &[]);
    let person = "query($id: ID!) { person(id: $id) { givenName usualName email roles { code } } }";
    let res = app.graphql_as(Some(&admin), person, json!({ "id": id })).await;
    assert_eq!(
        res["data"]["person"],
        json!({ "givenName": "Camille", "usualName": "Durand", "email": "camille.durand@example.org", "roles": [] }),
        "registered from the token's claims: {res}"
    );
    let again = query_as(&app, &newcomer, me).await;
    assert_eq!(again["data"]["me"]["sub"], "agent-new", "{again}");
    // the provider's subject is personal data: in the log, the identity is sealed and the actor
    // is the person's opaque id
    let actors: Vec<String> = sqlx::query_scalar("select distinct metadata->'actor'->>'id' from events")
        .fetch_all(&db.pool)
        .await
        .expect("actors");
    assert_eq!(actors, [people[0].to_string()], "the registration's actor");
    let clear: i64 = sqlx::query_scalar(
        "select count(*) from events where payload::text like '%agent-new%' or metadata::text like '%agent-new%'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("count");
    assert_eq!(clear, 0, "no event holds the subject in clear");
    let count: i64 = sqlx::query_scalar("select count(*) from person").fetch_one(&db.pool).await.expect("count");
    assert_eq!(count, 1, "the next login finds the person");
}

/// What a provider's caller writes is recorded under the opaque id of the person the identity
/// is linked to, never under the provider's `sub` (personal data, which an erasure must be able
/// to take away; the log cannot forget).
#[tokio::test]
async fn a_provider_callers_changes_are_recorded_under_their_person_id() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, |c| c.oidc = vec![provider(ISSUER)]).await;
    let person = admit(&app, &[(ISSUER, SUB)], Some(("LAB_TEAM", &[]))).await;
    let submit = "mutation { submitProject(input: { title: \"Un projet\", problemStatement: \"Un besoin.\", \
                  supportMode: PUNCTUAL, academieCodes: [\"01\"] }) { project { id } } }";
    let res = query_as(&app, &token(Algorithm::RS256, "rsa-1", &claims(SUB)), submit).await;
    assert!(res["errors"].is_null(), "{res}");
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(person.as_str().expect("an id")).expect("id");
    let person_id = String::from_utf8(raw).expect("utf-8").trim_start_matches("Person:").to_owned();
    let actors: Vec<(String, String)> = sqlx::query_as(
        "select distinct metadata->'actor'->>'id', metadata->'actor'->>'issuer' from events where stream_id like 'project-%'",
    )
    .fetch_all(&db.pool)
    .await
    .expect("actors");
    assert_eq!(actors, [(person_id, ISSUER.to_owned())]);
    let clear: i64 = sqlx::query_scalar("select count(*) from events where payload::text || metadata::text like $1")
        .bind(format!("%{SUB}%"))
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(clear, 0, "the subject is nowhere in clear in the log");
}

#[tokio::test]
async fn a_providers_claim_mapping_gives_roles_to_a_linked_person() {
    let db = FreshDatabase::create().await;
    let mapped = OidcProvider {
        roles_claim: Some("groups".into()),
        role_mapping: [("lab".to_owned(), Role::LabTeam)].into(),
        ..provider(ISSUER)
    };
    let app = spawn_app_with(&db.url, |c| c.oidc = vec![mapped]).await;
    admit(&app, &[(ISSUER, SUB)], None).await;

    let me = "{ me { roles { code } } }";
    let in_lab = token(Algorithm::EdDSA, "ed-1", &with(claims(SUB), json!({ "groups": ["lab", "staff"] })));
    let res = query_as(&app, &in_lab, me).await;
    assert_eq!(res["data"]["me"]["roles"], json!([{ "code": "LAB_TEAM" }]), "{res}");
    let res = query_as(&app, &in_lab, PROTECTED).await;
    assert_eq!(res["data"]["projects"]["totalCount"], 0, "the lab team reads projects: {res}");

    let elsewhere = token(Algorithm::EdDSA, "ed-1", &with(claims(SUB), json!({ "groups": ["staff"] })));
    let res = query_as(&app, &elsewhere, me).await;
    assert_eq!(res["data"]["me"]["roles"], json!([]), "no mapped group, no role: {res}");
    let res = query_as(&app, &elsewhere, PROTECTED).await;
    assert_eq!(res["errors"][0]["extensions"]["code"], "FORBIDDEN", "{res}");
}

#[tokio::test]
async fn two_authorization_headers_are_a_400_and_an_empty_sub_is_not_minted() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;
    let res = app
        .post_graphql()
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .body(json!({ "query": PROTECTED }).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{body}");
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("Authorization")), "{body}");
    assert_eq!(app.post_query(Some(&token), PROTECTED, &[]).await.status(), 200, "one header is fine");

    let dir = TempDir::new();
    let out = carnet(&["token", "--role", "LAB_TEAM", "--sub", ""], "sqlite://data/carnet.db", Some(dir.path()));
    assert!(!out.status.success(), "an empty subject was minted: {}", out.stdout);
    assert!(out.stderr.contains("--sub"), "{}", out.stderr);
    assert!(out.stdout.trim().is_empty(), "no token printed: {}", out.stdout);
}

/// Guessing tokens costs the guesser's address its budget: once spent, 429 instead of 401.
/// `X-Forwarded-For` chooses the address only where `trust_forwarded_for` says so.
#[tokio::test]
async fn refused_tokens_spend_the_budget_of_their_address() {
    let db = FreshDatabase::create().await;
    for trusted in [false, true] {
        let app = spawn_app_with(&db.url, |c| {
            c.rate_limit =
                carnet_api::rate_limit::RateLimitConfig { per_minute: 60, burst: 5, trust_forwarded_for: trusted }
        })
        .await;
        let guess = |forwarded: &'static str| {
            app.post_graphql()
                .header("content-type", "application/json")
                .header("x-forwarded-for", forwarded)
                .bearer_auth("garbage.not.a-token")
                .body(json!({ "query": PROTECTED }).to_string())
                .send()
        };
        let mut statuses = vec![];
        for _ in 0..20 {
            statuses.push(guess("203.0.113.7").await.expect("request").status().as_u16());
        }
        let refused = statuses.iter().filter(|s| **s == 401).count();
        let limited = statuses.iter().filter(|s| **s == 429).count();
        assert!((5..=6).contains(&refused) && refused + limited == 20, "trusted {trusted}: {statuses:?}");
        let res = guess("203.0.113.7").await.expect("request");
        assert_eq!(res.status(), 429);
        assert!(res.headers().contains_key("retry-after"));
        let body: Value = res.json().await.expect("JSON");
        assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{body}");
        // another address behind the proxy: its own budget only where the proxy is trusted
        let elsewhere = guess("198.51.100.9").await.expect("request").status();
        assert_eq!(elsewhere, if trusted { 401 } else { 429 }, "trusted {trusted}");
        // a valid token is its own caller
        let token = app.token(Role::LabTeam, &[]);
        assert_eq!(app.post_query(Some(&token), PROTECTED, &[]).await.status(), 200, "trusted {trusted}");
    }
}

/// A provider token is looked up in the people read model: during a database outage that
/// lookup fails, and the caller gets 503 `UNAVAILABLE` with `Retry-After`, as every other request
/// does then, not a 500.
#[tokio::test]
async fn a_provider_token_during_a_database_outage_is_503_unavailable() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, |c| c.oidc = vec![provider(ISSUER)]).await;
    admit(&app, &[(ISSUER, SUB)], Some(("LAB_TEAM", &[]))).await;
    let token = token(Algorithm::RS256, "rsa-1", &claims(SUB));
    let me = "{ me { sub } }";
    query_as(&app, &token, me).await;

    let name: String = sqlx::query_scalar("select current_database()").fetch_one(&db.pool).await.expect("name");
    let admin = sqlx::PgPool::connect(&carnet_testkit::database_url()).await.expect("the maintenance database");
    sqlx::query(&format!("alter database \"{name}\" allow_connections false")).execute(&admin).await.expect("alter");
    sqlx::query(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
    )
    .bind(&name)
    .execute(&admin)
    .await
    .expect("terminate");
    let res = app.post_query(Some(&token), me, &[]).await;
    let status = res.status();
    let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: Value = res.json().await.expect("JSON");
    sqlx::query(&format!("alter database \"{name}\" allow_connections true")).execute(&admin).await.expect("alter");
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{body}");
    assert!(body["errors"][0]["extensions"]["requestId"].is_string(), "{body}");
    assert!(body.get("data").is_none(), "the request never ran: {body}");
}
