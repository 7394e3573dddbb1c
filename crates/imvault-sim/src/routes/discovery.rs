//! §2 discovery: `GET /api` and `GET P/libraries`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::AppState;
use crate::credentials::{CUSTOMER_ID, USER_ID, USERNAME};
use crate::error::ApiError;
use crate::wire::{DiscoveredUser, LibraryRow};

pub async fn api(State(sim): State<AppState>, headers: HeaderMap) -> Json<Value> {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let visible: Vec<Value> = sim
        .corpus
        .libs
        .iter()
        .filter(|l| !l.hidden)
        .map(|l| json!({"alias": l.alias}))
        .collect();
    let preferred = sim.corpus.libs.first().map(|l| l.alias.clone());
    Json(json!({"data": {
        "user": DiscoveredUser {
            id: USER_ID,
            customer_id: CUSTOMER_ID,
            user_type: sim.opts.user_type,
            email: USERNAME,
        },
        "versions": [{"name": "v2", "url": format!("http://{host}/work/api/v2")}],
        "work": {"preferred_library": preferred, "libraries": visible}
    }}))
}

pub async fn libraries(
    State(sim): State<AppState>,
    Path(customer): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if customer != CUSTOMER_ID.to_string() {
        return Err(ApiError::NoRecord(format!("customer {customer}")));
    }
    let data: Vec<LibraryRow> = sim
        .corpus
        .libs
        .iter()
        .map(|l| LibraryRow {
            id: l.alias.clone(),
            library_type: "worksite",
            is_hidden: l.hidden,
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}
