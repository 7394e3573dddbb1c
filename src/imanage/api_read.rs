//! Typed reads of a library (contract §5, §6): profiles, versions, security and content.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use tracing::debug;

use super::client::{Call, Client};
use super::error::ImanageError;
use super::limiter::Permit;
use super::model::{
    Acl, AclEntry, Container, ContainerId, ContainerKind, DefaultSecurity, DocumentId,
    DocumentVersion, VersionId,
};
use super::stats::Counters;

/// The object whose security is read or written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecurityTarget {
    Workspace(ContainerId),
    /// A folder, tab or search folder.
    Folder(ContainerId),
    Document(DocumentId),
}

impl SecurityTarget {
    /// The target for a container of this kind.
    pub fn container(kind: ContainerKind, id: ContainerId) -> Self {
        match kind {
            ContainerKind::Workspace => Self::Workspace(id),
            _ => Self::Folder(id),
        }
    }

    pub(crate) fn path(&self, client: &Client) -> String {
        match self {
            Self::Workspace(c) => format!("{}/workspaces/{c}", client.lib_path(&c.library)),
            Self::Folder(c) => format!("{}/folders/{c}", client.lib_path(&c.library)),
            Self::Document(d) => format!("{}/documents/{d}", client.lib_path(&d.library)),
        }
    }
}

impl std::fmt::Display for SecurityTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Workspace(c) => write!(f, "workspace {c}"),
            Self::Folder(c) => write!(f, "folder {c}"),
            Self::Document(d) => write!(f, "document {d}"),
        }
    }
}

#[derive(Deserialize)]
struct SecurityAnswer {
    #[serde(default)]
    data: Vec<AclEntry>,
    #[serde(default)]
    default_security: Option<DefaultSecurity>,
}

/// Parse `{"data":[entries], "default_security": …}` into an [`Acl`].
pub(crate) fn parse_acl(v: Value, action: &str) -> Result<Acl, ImanageError> {
    let ans: SecurityAnswer = serde_json::from_value(v).map_err(|e| ImanageError::Decode {
        action: action.to_string(),
        source: e,
    })?;
    let default_security = ans.default_security.ok_or_else(|| ImanageError::Protocol {
        action: action.to_string(),
        problem: "no default_security in the answer".into(),
    })?;
    Ok(Acl {
        default_security,
        entries: ans.data,
    })
}

pub(crate) fn data_of(v: Value, action: &str) -> Result<Value, ImanageError> {
    match v {
        Value::Object(mut o) => o.remove("data").ok_or_else(|| ImanageError::Protocol {
            action: action.to_string(),
            problem: "no data in the answer".into(),
        }),
        _ => Err(ImanageError::Protocol {
            action: action.to_string(),
            problem: "the answer is not a JSON object".into(),
        }),
    }
}

pub(crate) fn to_version(v: Value, action: &str) -> Result<DocumentVersion, ImanageError> {
    DocumentVersion::from_json(v).map_err(|e| ImanageError::Shape {
        action: action.to_string(),
        source: e,
    })
}

pub(crate) fn to_container(v: Value, action: &str) -> Result<Container, ImanageError> {
    Container::from_json(v).map_err(|e| ImanageError::Shape {
        action: action.to_string(),
        source: e,
    })
}

impl Client {
    /// Every version of a document (`GET L/documents/{docId}/versions`), gaps and all.
    pub async fn document_versions(
        &self,
        doc: &DocumentId,
    ) -> Result<Vec<DocumentVersion>, ImanageError> {
        let action = format!("listing the versions of document {doc}");
        let call = Call::get(
            format!("{}/documents/{doc}/versions", self.lib_path(&doc.library)),
            action.clone(),
        );
        let data = data_of(self.json(&call).await?, &action)?;
        let Value::Array(rows) = data else {
            return Err(ImanageError::Protocol {
                action,
                problem: "data is not an array".into(),
            });
        };
        rows.into_iter().map(|r| to_version(r, &action)).collect()
    }

    /// One version's profile (`GET L/documents/{versionId}`).
    pub async fn document(&self, version: &VersionId) -> Result<DocumentVersion, ImanageError> {
        let action = format!("reading the profile of {version}");
        let call = Call::get(
            format!(
                "{}/documents/{version}",
                self.lib_path(&version.document.library)
            ),
            action.clone(),
        );
        to_version(data_of(self.json(&call).await?, &action)?, &action)
    }

    /// One workspace (`GET L/workspaces/{id}`).
    pub async fn workspace(&self, id: &ContainerId) -> Result<Container, ImanageError> {
        self.container("workspace", "workspaces", id).await
    }

    /// One folder, tab or search folder (`GET L/folders/{id}`).
    pub async fn folder(&self, id: &ContainerId) -> Result<Container, ImanageError> {
        self.container("folder", "folders", id).await
    }

    /// One container (`GET L/{dir}/{id}`), a `what` in errors.
    async fn container(
        &self,
        what: &str,
        dir: &str,
        id: &ContainerId,
    ) -> Result<Container, ImanageError> {
        let action = format!("reading {what} {id}");
        let call = Call::get(
            format!("{}/{dir}/{id}", self.lib_path(&id.library)),
            action.clone(),
        );
        to_container(data_of(self.json(&call).await?, &action)?, &action)
    }

    /// The ACL of a workspace, folder or document (`GET L/{kind}/{id}/security`).
    pub async fn security(&self, target: &SecurityTarget) -> Result<Acl, ImanageError> {
        let action = format!("reading the security of {target}");
        let call = Call::get(format!("{}/security", target.path(self)), action.clone());
        parse_acl(self.json(&call).await?, &action)
    }

    /// Stream one version's content (`GET L/documents/{versionId}/download?activity=export`).
    ///
    /// The body is never buffered whole. Its length is checked against `expected_size` (the
    /// profile's `size`): a `Content-Length` that disagrees fails before any byte is yielded
    /// ([`ImanageError::LengthMismatch`], permanent); a body that ends early fails with
    /// [`ImanageError::Truncated`], whose retry class is `Backoff`. The request itself is
    /// retried inside; a truncated body is retried by the caller, who discards what it got and
    /// calls `download` again (the stream cannot take back bytes it already yielded).
    pub fn download(
        &self,
        version: &VersionId,
        expected_size: u64,
    ) -> impl Stream<Item = Result<Bytes, ImanageError>> + Send + 'static {
        let start = St::Start(self.clone(), version.clone(), expected_size);
        futures::stream::unfold(start, download_step)
    }
}

async fn download_step(st: St) -> Option<(Result<Bytes, ImanageError>, St)> {
    {
        match st {
            St::Done => None,
            St::Start(client, version, expected) => {
                let action = format!("download of {version}");
                let call = Call::get(
                    format!(
                        "{}/documents/{version}/download",
                        client.lib_path(&version.document.library)
                    ),
                    action,
                )
                .with_query("activity", "export");
                let (resp, permit) = match client.execute(&call).await {
                    Ok(x) => x,
                    Err(e) => return Some((Err(e), St::Done)),
                };
                if let Some(len) = resp.content_length()
                    && len != expected
                {
                    return Some((
                        Err(ImanageError::LengthMismatch {
                            version,
                            expected,
                            got: len,
                        }),
                        St::Done,
                    ));
                }
                debug!(version = %version, size = expected, "download started");
                let body = resp.bytes_stream().boxed();
                next_chunk(St::Body {
                    body,
                    _permit: permit,
                    client,
                    version,
                    expected,
                    got: 0,
                })
                .await
            }
            body @ St::Body { .. } => next_chunk(body).await,
        }
    }
}

async fn next_chunk(st: St) -> Option<(Result<Bytes, ImanageError>, St)> {
    let St::Body {
        mut body,
        _permit,
        client,
        version,
        expected,
        got,
    } = st
    else {
        return None;
    };
    match body.next().await {
        Some(Ok(chunk)) => {
            let got = got + chunk.len() as u64;
            Counters::add(&client.inner.counters.bytes_downloaded, chunk.len() as u64);
            if got > expected {
                return Some((
                    Err(ImanageError::LengthMismatch {
                        version,
                        expected,
                        got,
                    }),
                    St::Done,
                ));
            }
            Some((
                Ok(chunk),
                St::Body {
                    body,
                    _permit,
                    client,
                    version,
                    expected,
                    got,
                },
            ))
        }
        end => {
            // The body is complete, or the connection broke or ended before the announced
            // length.
            if end.is_none() && got >= expected {
                return None;
            }
            Counters::bump(&client.inner.counters.transport_errors);
            Some((
                Err(ImanageError::Truncated {
                    version,
                    expected,
                    got,
                }),
                St::Done,
            ))
        }
    }
}

enum St {
    Start(Client, VersionId, u64),
    Body {
        body: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
        _permit: Permit,
        client: Client,
        version: VersionId,
        expected: u64,
        got: u64,
    },
    Done,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn acl_parses_and_requires_default_security() {
        let acl = parse_acl(
            json!({"data":[{"id":"JSMITH","type":"user","name":"Jane Smith","access_level":"full_access","access":3},
                {"id":"LITIGATION","type":"group","name":"Litigation","access_level":"read","access":1}],
                "default_security":"private"}),
            "x",
        )
        .unwrap();
        assert_eq!(acl.default_security, DefaultSecurity::Private);
        assert_eq!(acl.entries.len(), 2);
        assert_eq!(
            acl.entries[1].access_level,
            super::super::model::AccessLevel::Read
        );
        let e = parse_acl(json!({"data":[]}), "reading the security of folder A!2").unwrap_err();
        assert!(e.to_string().contains("folder A!2"), "{e}");
    }
}
