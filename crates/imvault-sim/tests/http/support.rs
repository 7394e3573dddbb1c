//! What the HTTP tests (and the figures example) share: a simulator on 127.0.0.1:0 signed in to
//! with plain reqwest, paging and crawl loops, token and upload forms.

#![allow(dead_code)]

use std::net::SocketAddr;

use imvault_sim::{Scale, Server, SimHandle, SimOptions, credentials};
use serde_json::{Value, json};

pub const P: &str = "/work/api/v2/customers/1234";

pub struct Env {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
    pub sim: SimHandle,
}

pub fn opts(scale: Scale) -> SimOptions {
    SimOptions {
        scale,
        ..SimOptions::default()
    }
}

pub async fn sign_in(http: &reqwest::Client, base: &str) -> reqwest::Response {
    http.post(format!("{base}/auth/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", credentials::USERNAME),
            ("password", credentials::AUTH_KEY),
            ("client_id", credentials::CLIENT_ID),
            ("client_secret", credentials::CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap()
}

pub async fn start(o: SimOptions) -> Env {
    let (addr, sim): (SocketAddr, SimHandle) = Server::start(o).unwrap();
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let resp = sign_in(&http, &base).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    let token = body["access_token"].as_str().unwrap().to_string();
    Env {
        base,
        http,
        token,
        sim,
    }
}

impl Env {
    pub fn lib(&self, lib: &str, path: &str) -> String {
        format!("{}{P}/libraries/{lib}{path}", self.base)
    }
    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http
            .get(url)
            .header("X-Auth-Token", &self.token)
            .send()
            .await
            .unwrap()
    }
    pub async fn get_json(&self, url: &str) -> Value {
        let r = self.get(url).await;
        assert_eq!(r.status(), 200, "GET {url}");
        r.json().await.unwrap()
    }
    pub async fn post_json(&self, url: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(url)
            .header("X-Auth-Token", &self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }
    /// Every item of a paged GET listing, following cursors.
    pub async fn all_pages(&self, url: &str, limit: u32, search: bool) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = self
                .http
                .get(url)
                .header("X-Auth-Token", &self.token)
                .query(&[
                    ("limit", limit.to_string()),
                    ("paging_mode", "standard_cursor".into()),
                ]);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c)]);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200, "GET {url}");
            let v: Value = r.json().await.unwrap();
            let items = if search {
                &v["data"]["results"]
            } else {
                &v["data"]
            };
            out.extend(items.as_array().unwrap().iter().cloned());
            match v["cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }
    /// Every row of a crawl endpoint.
    pub async fn crawl(&self, lib: &str, what: &str, limit: u32, extra: Value) -> Vec<Value> {
        let mut out = Vec::new();
        let mut body = json!({ "limit": limit });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        loop {
            let r = self
                .post_json(&self.lib(lib, &format!("/sync/{what}")), &body)
                .await;
            assert_eq!(r.status(), 200, "crawl {what}");
            let v: Value = r.json().await.unwrap();
            let rows = v["data"].as_array().unwrap();
            assert!(rows.len() <= limit as usize);
            out.extend(rows.iter().cloned());
            match v["cursor"].as_str() {
                Some(c) => body["cursor"] = json!(c),
                None => return out,
            }
        }
    }
}

pub async fn token_request(env_base: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{env_base}/auth/oauth2/token"))
        .form(fields)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

pub fn password_form<'a>(secret: &'a str, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "password"),
        ("username", credentials::USERNAME),
        ("password", key),
        ("client_id", credentials::CLIENT_ID),
        ("client_secret", secret),
        ("scope", "admin"),
    ]
}

pub fn upload_form(profile: Value, bytes: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .part(
            "profile",
            reqwest::multipart::Part::text(profile.to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("upload.bin"),
        )
}
