//! Sign-in (§1): failure kinds, lockout, expiry, refresh, revoke; and the regular account.

use super::*;

#[tokio::test]
async fn sign_in_failures_have_their_oauth_kinds_and_five_failures_lock() {
    let env = start(opts(Scale::Tiny)).await;
    let (s, b) = token_request(
        &env.base,
        &password_form("wrong-secret", credentials::AUTH_KEY),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_client")));
    let (s, b) = token_request(
        &env.base,
        &password_form(credentials::CLIENT_SECRET, "bad-key"),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    assert!(!b.to_string().contains(credentials::CLIENT_SECRET));
    // A good sign-in resets the count; then five failures in a row lock the account.
    let (s, _) = token_request(
        &env.base,
        &password_form(credentials::CLIENT_SECRET, credentials::AUTH_KEY),
    )
    .await;
    assert_eq!(s, 200);
    for i in 1..=5 {
        let (s, b) = token_request(
            &env.base,
            &password_form(credentials::CLIENT_SECRET, "bad-key"),
        )
        .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("invalid_grant")),
            "attempt {i}"
        );
    }
    let (s, b) = token_request(
        &env.base,
        &password_form(credentials::CLIENT_SECRET, credentials::AUTH_KEY),
    )
    .await;
    assert_eq!(s, 400, "a locked account refuses even the right key");
    assert_eq!(b["error"], "invalid_grant");
    assert!(
        b["error_description"].as_str().unwrap().contains("locked"),
        "{b}"
    );
    env.sim.unlock_account();
    let (s, _) = token_request(
        &env.base,
        &password_form(credentials::CLIENT_SECRET, credentials::AUTH_KEY),
    )
    .await;
    assert_eq!(s, 200);
    let st = env.sim.stats();
    assert!(st.failed_sign_ins >= 8 && st.sign_ins >= 3, "{st:?}");
    // Ten failures lock it until an administrator unlocks it (here the temporary lock is
    // zero seconds long, so failures 6..10 count without waiting).
    let env = start(SimOptions {
        lockout_secs: 0,
        ..opts(Scale::Tiny)
    })
    .await;
    for _ in 0..10 {
        token_request(
            &env.base,
            &password_form(credentials::CLIENT_SECRET, "bad-key"),
        )
        .await;
    }
    let (s, b) = token_request(
        &env.base,
        &password_form(credentials::CLIENT_SECRET, credentials::AUTH_KEY),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("administrator"),
        "{b}"
    );
    env.sim.unlock_account();
    let (s, _) = token_request(
        &env.base,
        &password_form(credentials::CLIENT_SECRET, credentials::AUTH_KEY),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn tokens_expire_refresh_and_revoke() {
    let env = start(opts(Scale::Tiny)).await;
    let url = format!("{}/api", env.base);
    let no_token = env.http.get(&url).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    let body: Value = no_token.json().await.unwrap();
    assert!(body["error"]["transaction"].is_string());
    assert_eq!(env.get(&url).await.status(), 200);
    // Fresh tokens with the refresh grant.
    let signed: Value = sign_in(&env.http, &env.base).await.json().await.unwrap();
    let refresh = signed["refresh_token"].as_str().unwrap();
    env.sim.expire_tokens();
    assert_eq!(env.get(&url).await.status(), 401, "expired token");
    let (s, b) = token_request(
        &env.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", credentials::CLIENT_ID),
            ("client_secret", credentials::CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let fresh = b["access_token"].as_str().unwrap().to_string();
    let r = env
        .http
        .get(&url)
        .header("X-Auth-Token", &fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A forged refresh token is refused.
    let (s, b) = token_request(
        &env.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "simr.0.1.0.0.deadbeef"),
            ("client_id", credentials::CLIENT_ID),
            ("client_secret", credentials::CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    // Revoke.
    let r = env
        .http
        .post(format!("{}/auth/oauth2/revoke-token", env.base))
        .form(&[("access_token", fresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = env
        .http
        .get(&url)
        .header("X-Auth-Token", &fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn regular_accounts_get_403_from_the_crawl() {
    let env = start(SimOptions {
        user_type: imvault_sim::UserType::Regular,
        ..opts(Scale::Tiny)
    })
    .await;
    let api = env.get_json(&format!("{}/api", env.base)).await;
    assert_eq!(api["data"]["user"]["user_type"], "regular");
    let r = env
        .post_json(
            &env.lib("ACTIVE", "/sync/documents/crawl"),
            &json!({"limit": 10}),
        )
        .await;
    assert_eq!(r.status(), 403);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "NRC_ACCESS_DENIED");
    assert_eq!(
        env.get(&env.lib("ACTIVE", "/workspaces")).await.status(),
        200
    );
}
