//! The HTTP surface faces browsers on a ministry network: only configured origins may read the
//! API's answers from their pages.

use crate::support::*;

const FRONT: &str = "https://front.example.gouv.fr";

#[tokio::test]
async fn only_configured_origins_may_call_the_api_from_a_browser() {
    let db = fresh_postgres().await;
    let app = spawn_app_with(&db.url, |c| c.cors_allowed_origins = vec![FRONT.into()]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = preflight(FRONT).await.expect("preflight");
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()), Some(FRONT));
    let methods = allowed.headers().get("access-control-allow-methods").unwrap().to_str().unwrap().to_owned();
    assert!(methods.contains("POST") && !methods.contains("DELETE"), "{methods}");

    let other = preflight("https://evil.example").await.expect("preflight");
    assert!(other.headers().get("access-control-allow-origin").is_none(), "another origin is not allowed");

    let post = |origin: &'static str| {
        app.client
            .post(format!("{}/graphql", app.address))
            .header("origin", origin)
            .header("content-type", "application/json")
            .body(r#"{"query":"{ academies { code } }"}"#)
            .send()
    };
    let from_front = post(FRONT).await.expect("post");
    assert_eq!(from_front.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()), Some(FRONT));
    let from_elsewhere = post("https://evil.example").await.expect("post");
    assert!(from_elsewhere.headers().get("access-control-allow-origin").is_none(), "its page cannot read the answer");
    // the server's own pages (GraphiQL) send their origin too, and need no entry
    let same_origin = post(Box::leak(app.address.clone().into_boxed_str())).await.expect("post");
    assert_eq!(same_origin.status(), 200);
}
