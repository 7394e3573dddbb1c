//! `GET /v1/openapi.json`: the API described as OpenAPI 3.1, written by hand next to the
//! routes it describes (a test checks every routed path is in it).

use axum::Json;
use serde_json::{Value, json};

/// Every path of the API with its methods (kept in step with [`super::router`]).
pub const PATHS: &[(&str, &str)] = &[
    ("/v1/jobs", "get"),
    ("/v1/jobs/{id}", "get"),
    ("/v1/jobs/{id}/cancel", "post"),
    ("/v1/backups", "post"),
    ("/v1/restores", "post"),
    ("/v1/verifications", "post"),
    ("/v1/snapshots", "get"),
    ("/v1/libraries", "get"),
    ("/v1/openapi.json", "get"),
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),
];

fn err(desc: &str) -> Value {
    json!({ "description": desc, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(desc: &str, schema: Value) -> Value {
    json!({ "description": desc, "content": { "application/json": { "schema": schema } } })
}

fn job_ref() -> Value {
    json!({ "$ref": "#/components/schemas/Job" })
}

/// The document.
pub fn document() -> Value {
    let states = json!([
        "queued",
        "running",
        "completed",
        "completed_with_warnings",
        "failed",
        "cancelled"
    ]);
    let kinds = json!(["backup", "restore", "verify", "prune", "catalog_rebuild"]);
    let id_param = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "imvault daemon API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Operate imvault serve: jobs, backups, restores, snapshots, libraries. Every /v1 call needs `Authorization: Bearer <token>` (the token in [api] token_file)."
        },
        "security": [ { "bearer": [] } ],
        "paths": {
            "/v1/jobs": { "get": {
                "summary": "List jobs, newest first",
                "parameters": [
                    { "name": "state", "in": "query", "schema": { "type": "string", "enum": states } },
                    { "name": "kind", "in": "query", "schema": { "type": "string", "enum": kinds } },
                    { "name": "library", "in": "query", "schema": { "type": "string" } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 50 } },
                    { "name": "offset", "in": "query", "schema": { "type": "integer", "minimum": 0, "default": 0 } }
                ],
                "responses": {
                    "200": ok("A page of jobs", json!({ "type": "object", "properties": {
                        "jobs": { "type": "array", "items": job_ref() },
                        "offset": { "type": "integer" }, "limit": { "type": "integer" },
                        "next_offset": { "type": ["integer", "null"] } } })),
                    "400": err("A bad query parameter (named in the message)"),
                    "401": err("Missing or wrong bearer token")
                } } },
            "/v1/jobs/{id}": { "get": {
                "summary": "One job, with live progress while it runs",
                "parameters": [ id_param ],
                "responses": { "200": ok("The job", job_ref()), "400": err("Not a job id"), "401": err("Missing or wrong bearer token"), "404": err("No such job") } } },
            "/v1/jobs/{id}/cancel": { "post": {
                "summary": "Cancel a job: a queued one at once (200), a running one at its next checkpoint (202)",
                "parameters": [ id_param ],
                "responses": { "200": ok("Cancelled", job_ref()), "202": ok("Cancelling", job_ref()), "401": err("Missing or wrong bearer token"), "404": err("No such job"), "409": err("The job already ended") } } },
            "/v1/backups": { "post": {
                "summary": "Queue a backup now",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/BackupRequest" } } } },
                "responses": { "202": ok("Queued", job_ref()), "400": err("Bad JSON, an unknown field or library (named in the message)"), "401": err("Missing or wrong bearer token"), "409": err("A backup of one of these libraries is already queued or running; details.job names it"), "503": err("Not signed in to iManage yet") } } },
            "/v1/restores": { "post": {
                "summary": "Queue a restore (the options of imvault restore)",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/RestoreRequest" } } } },
                "responses": { "202": ok("Queued", job_ref()), "400": err("Bad JSON or an invalid field (named in the message)"), "401": err("Missing or wrong bearer token") } } },
            "/v1/verifications": { "post": {
                "summary": "Queue a repository verify (the options of imvault verify); problems found fail the job and are listed in its result",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/VerifyRequest" } } } },
                "responses": { "202": ok("Queued", job_ref()), "400": err("Bad JSON or an invalid field (named in the message)"), "401": err("Missing or wrong bearer token") } } },
            "/v1/snapshots": { "get": {
                "summary": "Catalogued snapshots by library, oldest first",
                "parameters": [ { "name": "library", "in": "query", "schema": { "type": "string" } } ],
                "responses": { "200": ok("Snapshots", json!({ "type": "object", "properties": { "snapshots": { "type": "array", "items": { "type": "object" } } } })), "401": err("Missing or wrong bearer token") } } },
            "/v1/libraries": { "get": {
                "summary": "Configured libraries: newest snapshot, last backup job, state, next scheduled run",
                "responses": { "200": ok("Libraries", json!({ "type": "object", "properties": { "libraries": { "type": "array", "items": { "type": "object", "properties": {
                    "id": { "type": "string" }, "state": { "type": "string", "enum": ["idle", "queued", "running"] },
                    "last_snapshot": { "type": ["object", "null"] }, "last_backup_job": { "type": ["object", "null"] },
                    "next_scheduled_run": { "type": ["string", "null"], "format": "date-time" } } } } } })),
                    "401": err("Missing or wrong bearer token") } } },
            "/v1/openapi.json": { "get": { "summary": "This document", "responses": { "200": ok("OpenAPI 3.1", json!({ "type": "object" })) } } },
            "/healthz": { "get": { "summary": "The process is up", "security": [], "responses": { "200": ok("Up", json!({ "type": "object" })) } } },
            "/readyz": { "get": { "summary": "Catalog and repository reachable, signed in to iManage; the checks and their reasons only with the bearer token", "security": [{}, { "bearer": [] }],
                "responses": { "200": ok("Ready", json!({ "type": "object" })), "503": ok("Not ready; with the token, checks.*.error says why", json!({ "type": "object" })) } } },
            "/metrics": { "get": { "summary": "Prometheus text exposition", "security": [],
                "responses": { "200": { "description": "Metrics", "content": { "text/plain": { "schema": { "type": "string" } } } } } } }
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" }, "details": { "type": "object" } } },
                "Job": { "type": "object", "required": ["id", "kind", "params", "state", "created_at", "updated_at"], "properties": {
                    "id": { "type": "string", "format": "uuid" },
                    "kind": { "type": "string", "enum": kinds },
                    "params": { "type": "object" },
                    "state": { "type": "string", "enum": states },
                    "created_at": { "type": "string", "format": "date-time" },
                    "started_at": { "type": ["string", "null"], "format": "date-time" },
                    "finished_at": { "type": ["string", "null"], "format": "date-time" },
                    "updated_at": { "type": "string", "format": "date-time" },
                    "progress": { "type": ["object", "null"], "description": "elapsed_seconds, libraries.<id>.{containers,versions,versions_downloaded,versions_unchanged,bytes_read,skipped,retried}, and result when finished" },
                    "last_error": { "type": ["string", "null"] },
                    "cancelling": { "type": "boolean" } } },
                "BackupRequest": { "type": "object", "additionalProperties": false, "properties": {
                    "libraries": { "type": "array", "items": { "type": "string" }, "description": "default: every configured library" },
                    "full": { "type": "boolean", "default": false } } },
                "VerifyRequest": { "type": "object", "additionalProperties": false, "properties": {
                    "read_data_percent": { "type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 100, "description": "Download and check this share of the packs (rotating below 100); absent: structure only" },
                    "library": { "type": ["string", "null"], "description": "Only the snapshots of this library" } } },
                "RestoreRequest": { "type": "object", "additionalProperties": false,
                    "description": "Exactly one of document, folder, workspace, library; at most one of at, snapshot (neither: the newest snapshot); exactly one of to, into, into_folder.",
                    "properties": {
                    "document": { "type": "string", "description": "LIB!N: all its versions, or only `version`" },
                    "version": { "type": "integer", "minimum": 1 },
                    "folder": { "type": "string", "description": "LIB!N: a folder or tab with everything under it" },
                    "workspace": { "type": "string", "description": "LIB!N" },
                    "library": { "type": "string" },
                    "at": { "type": "string", "format": "date-time", "description": "newest snapshot at or before this time" },
                    "snapshot": { "type": "string", "description": "id or unique prefix" },
                    "to": { "type": "string", "description": "export into this absolute directory on the daemon's host" },
                    "merge": { "type": "boolean", "default": false, "description": "with to: allow a non-empty directory (never overwrites)" },
                    "into": { "const": "original", "description": "back into iManage where the items were" },
                    "into_folder": { "type": "string", "description": "LIB!N: as new documents under this folder" },
                    "acl": { "enum": ["keep", "inherit"], "default": "keep" },
                    "dry_run": { "type": "boolean", "default": false } } }
            }
        }
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented() {
        let doc = document();
        for (path, method) in PATHS {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is missing from the OpenAPI document"
            );
        }
        assert_eq!(doc["paths"].as_object().unwrap().len(), PATHS.len());
    }
}
