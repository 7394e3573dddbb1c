//! `imvault check`: sign in, list libraries, and count what each holds by walking it without
//! downloading: workspaces, folders, tabs, search folders, documents, e-mails, versions and
//! bytes, with the requests made and the time taken.

use std::collections::HashSet;
use std::fmt;
use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;
use tracing::info;

use super::client::Client;
use super::error::ImanageError;
use super::model::{ContainerKind, DocumentKind, LibraryId, UserType};
use super::stats::ClientStats;
use super::walk::{WalkItem, WalkOptions, WalkStrategy, resolve_strategy, walk};

/// Errors kept per library in the report; the rest are only counted.
const MAX_LISTED_ERRORS: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LibraryReport {
    pub library: LibraryId,
    pub hidden: bool,
    pub strategy: WalkStrategy,
    pub workspaces: u64,
    pub folders: u64,
    pub tabs: u64,
    pub search_folders: u64,
    pub documents: u64,
    pub emails: u64,
    pub versions: u64,
    pub bytes: u64,
    pub filings: u64,
    pub document_acls: u64,
    /// Objects the account may not read (403), e.g. a library not yet assigned.
    pub access_denied: Vec<String>,
    pub warnings: u64,
    pub error_count: u64,
    pub errors: Vec<String>,
    pub requests: u64,
    pub seconds: f64,
}

impl LibraryReport {
    pub fn new(library: LibraryId, hidden: bool, strategy: WalkStrategy) -> Self {
        Self {
            library,
            hidden,
            strategy,
            workspaces: 0,
            folders: 0,
            tabs: 0,
            search_folders: 0,
            documents: 0,
            emails: 0,
            versions: 0,
            bytes: 0,
            filings: 0,
            document_acls: 0,
            access_denied: vec![],
            warnings: 0,
            error_count: 0,
            errors: vec![],
            requests: 0,
            seconds: 0.0,
        }
    }

    /// Containers plus versions: what a backup handles one by one.
    pub fn items(&self) -> u64 {
        self.workspaces + self.folders + self.tabs + self.search_folders + self.versions
    }

    pub fn requests_per_item(&self) -> f64 {
        match self.items() {
            0 => 0.0,
            n => self.requests as f64 / n as f64,
        }
    }
}

/// What `imvault check` found: the signed-in account and, per library, what it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InventoryReport {
    pub user: String,
    pub customer_id: u64,
    pub user_type: UserType,
    pub libraries: Vec<LibraryReport>,
    pub requests: u64,
    pub seconds: f64,
    pub client: ClientStats,
}

impl InventoryReport {
    /// True when every library was read completely.
    pub fn is_clean(&self) -> bool {
        self.libraries
            .iter()
            .all(|l| l.access_denied.is_empty() && l.error_count == 0)
    }
}

fn add_error(r: &mut LibraryReport, text: String) {
    r.error_count += 1;
    if r.errors.len() < MAX_LISTED_ERRORS {
        r.errors.push(text);
    }
}

/// Walk each library (all of them when `filter` is empty) and count.
pub async fn check(
    client: &Client,
    filter: &[LibraryId],
    strategy: WalkStrategy,
) -> Result<InventoryReport, ImanageError> {
    for wanted in filter {
        if !client.libraries().iter().any(|l| &l.id == wanted) {
            let known: Vec<String> = client
                .libraries()
                .iter()
                .map(|l| l.id.to_string())
                .collect();
            return Err(ImanageError::Settings {
                problem: format!(
                    "library {wanted} is not among the libraries discovery listed ({})",
                    known.join(", ")
                ),
            });
        }
    }
    let started = Instant::now();
    let requests_before = client.stats().requests;
    let mut libraries = vec![];
    for lib in client.libraries() {
        if !filter.is_empty() && !filter.contains(&lib.id) {
            continue;
        }
        let mut r = LibraryReport::new(
            lib.id.clone(),
            lib.is_hidden,
            resolve_strategy(client, strategy),
        );
        let lib_start = Instant::now();
        let lib_requests = client.stats().requests;
        let mut documents = HashSet::new();
        let mut items = std::pin::pin!(walk(client, &lib.id, strategy, WalkOptions::default()));
        while let Some(item) = items.next().await {
            match item {
                Ok(WalkItem::Container { container, .. }) => match container.kind {
                    ContainerKind::Workspace => r.workspaces += 1,
                    ContainerKind::Folder => r.folders += 1,
                    ContainerKind::Tab => r.tabs += 1,
                    ContainerKind::SearchFolder => r.search_folders += 1,
                },
                Ok(WalkItem::Version { version }) => {
                    r.versions += 1;
                    r.bytes += version.size;
                    if documents.insert(version.id.document.number) {
                        match version.kind {
                            DocumentKind::Document => r.documents += 1,
                            DocumentKind::Email => r.emails += 1,
                        }
                    }
                }
                Ok(WalkItem::Filing(_)) => r.filings += 1,
                Ok(WalkItem::DocumentAcl { .. }) => r.document_acls += 1,
                Ok(WalkItem::AccessDenied { what, .. }) => r.access_denied.push(what),
                Ok(WalkItem::Warning { .. }) => r.warnings += 1,
                // A full walk (no `changes`) never relists.
                Ok(
                    WalkItem::Relisted { .. }
                    | WalkItem::ChangesOnly { .. }
                    | WalkItem::ListedEverything,
                ) => {}
                Err(e) => add_error(&mut r, e.to_string()),
            }
        }
        r.requests = client.stats().requests - lib_requests;
        r.seconds = lib_start.elapsed().as_secs_f64();
        info!(
            library = %r.library,
            versions = r.versions,
            requests = r.requests,
            seconds = r.seconds,
            "library checked"
        );
        libraries.push(r);
    }
    let user = client.user();
    Ok(InventoryReport {
        user: user.id.clone(),
        customer_id: user.customer_id,
        user_type: user.user_type.clone(),
        libraries,
        requests: client.stats().requests - requests_before,
        seconds: started.elapsed().as_secs_f64(),
        client: client.stats(),
    })
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

impl fmt::Display for InventoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "signed in as {} (customer {}, user type {:?})",
            self.user, self.customer_id, self.user_type
        )?;
        let names: Vec<String> = self
            .libraries
            .iter()
            .map(|l| {
                if l.hidden {
                    format!("{} (hidden)", l.library)
                } else {
                    l.library.to_string()
                }
            })
            .collect();
        let w = names
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(0)
            .max(7);
        writeln!(
            f,
            "{:<w$} {:>8} {:>10} {:>8} {:>7} {:>7} {:>10} {:>8} {:>10} {:>11} {:>9} {:>8} {:>9}",
            "library",
            "strategy",
            "workspaces",
            "folders",
            "tabs",
            "search",
            "documents",
            "emails",
            "versions",
            "bytes",
            "requests",
            "seconds",
            "req/item"
        )?;
        for (l, name) in self.libraries.iter().zip(&names) {
            writeln!(
                f,
                "{:<w$} {:>8} {:>10} {:>8} {:>7} {:>7} {:>10} {:>8} {:>10} {:>11} {:>9} {:>8.2} {:>9.3}",
                name,
                format!("{:?}", l.strategy).to_lowercase(),
                l.workspaces,
                l.folders,
                l.tabs,
                l.search_folders,
                l.documents,
                l.emails,
                l.versions,
                human_bytes(l.bytes),
                l.requests,
                l.seconds,
                l.requests_per_item()
            )?;
            for what in &l.access_denied {
                writeln!(
                    f,
                    "  access denied: {what} (Control Center changes can take up to 8 hours to apply)"
                )?;
            }
            if l.warnings > 0 {
                writeln!(
                    f,
                    "  {} warnings (objects changed during the walk)",
                    l.warnings
                )?;
            }
            for e in &l.errors {
                writeln!(f, "  error: {e}")?;
            }
            if l.error_count as usize > l.errors.len() {
                writeln!(
                    f,
                    "  … and {} more errors",
                    l.error_count as usize - l.errors.len()
                )?;
            }
        }
        write!(
            f,
            "total: {} requests in {:.2} s ({} retried, {} throttled, {} server errors; rate now {:.0}/{:.0} per second)",
            self.requests,
            self.seconds,
            self.client.retries,
            self.client.throttled,
            self.client.server_errors,
            self.client.current_rate,
            self.client.max_rate
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn report_prints_access_problems_and_ratios() {
        let mut lib =
            LibraryReport::new(LibraryId::new("ACTIVE").unwrap(), false, WalkStrategy::Tree);
        lib.workspaces = 2;
        lib.folders = 3;
        lib.versions = 5;
        lib.requests = 20;
        lib.access_denied = vec!["library ACTIVE".into()];
        assert_eq!(lib.items(), 10);
        assert_eq!(lib.requests_per_item(), 2.0);
        let r = InventoryReport {
            user: "SVC".into(),
            customer_id: 1,
            user_type: UserType::System,
            libraries: vec![lib],
            requests: 20,
            seconds: 1.0,
            client: ClientStats::default(),
        };
        assert!(!r.is_clean());
        let text = r.to_string();
        assert!(text.contains("access denied: library ACTIVE"), "{text}");
        assert!(text.contains("8 hours"), "{text}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["libraries"][0]["workspaces"], 2);
    }
}
