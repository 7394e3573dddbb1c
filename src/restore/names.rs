//! File and directory names for an export: readable, portable, never escaping their directory.
//! iManage names can hold `/`, `:`, `*`, `<>`, quotes, trailing spaces, reserved device names
//! (`CON`) and hundreds of characters; none of that may break the tree.

/// Bytes a name component may take before its suffix (`" (doc N v V).ext"` and the temp-file
/// prefix still fit in the usual 255-byte limit).
pub const MAX_NAME_BYTES: usize = 150;

const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// One path component made from an iManage name; `fallback` when nothing usable is left.
pub fn component(name: &str, fallback: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let trimmed = s.trim_matches(|c: char| c == ' ' || c == '.').to_string();
    s = trimmed;
    if s.len() > MAX_NAME_BYTES {
        let mut end = MAX_NAME_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s = s.trim_end_matches([' ', '.']).to_string();
    }
    if s.is_empty() {
        return fallback.to_string();
    }
    let stem = s
        .split('.')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        s.insert(0, '_');
    }
    s
}

/// A file extension: ASCII letters and digits only, at most 16.
pub fn extension(ext: Option<&str>) -> Option<String> {
    let e: String = ext?
        .trim_start_matches('.')
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    (!e.is_empty()).then_some(e)
}

/// `name (doc N v V).ext`: the file of one version.
pub fn version_file(name: &str, number: u64, version: u32, ext: Option<&str>) -> String {
    let base = component(name, "untitled");
    match extension(ext) {
        Some(e) => format!("{base} (doc {number} v {version}).{e}"),
        None => format!("{base} (doc {number} v {version})"),
    }
}

/// The directory of container `number` named `name`. A name imvault gives files in a directory
/// (a version's `… (doc N v V).ext`, a sidecar `… .imvault.json`, `imvault-container.json`,
/// the manifest and item list) gets ` (N)` appended (temporary names start with a dot, which
/// no component keeps): a folder
/// named like a document's file would make that version count as already restored, and one
/// named `imvault-container.json` would hide its parent's profile and ACL.
pub fn directory(name: &str, number: u64) -> String {
    let base = component(name, &format!("container {number}"));
    if is_imvault_file_name(&base) {
        format!("{base} ({number})")
    } else {
        base
    }
}

/// Whether `name` has the form of a file the export writes.
fn is_imvault_file_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    (lower.starts_with("imvault-") && (lower.ends_with(".json") || lower.ends_with(".jsonl")))
        || lower.ends_with(".imvault.json")
        || (lower.contains(".imvault-") && lower.ends_with(".json"))
        || looks_like_version_file(name)
}

/// `… (doc N v V)` with an optional `.ext` (ASCII letters and digits).
fn looks_like_version_file(name: &str) -> bool {
    let stem = match name.rsplit_once('.') {
        Some((stem, ext)) if !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphanumeric()) => {
            stem
        }
        _ => name,
    };
    let Some(inner) = stem
        .strip_suffix(')')
        .and_then(|s| s.rsplit_once(" (doc "))
        .map(|(_, inner)| inner)
    else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    matches!(inner.split_once(" v "), Some((n, v)) if digits(n) && digits(v))
}

/// `name (doc N).imvault.json`: the sidecar of one document.
pub fn sidecar_file(name: &str, number: u64) -> String {
    format!(
        "{} (doc {number}).imvault.json",
        component(name, "untitled")
    )
}

/// The sidecar a merge writes next to an earlier export's (never overwritten) when it adds
/// versions of the document: `stamp` is the merge's (as in its manifest's name).
pub fn merge_sidecar_file(name: &str, number: u64, stamp: &str) -> String {
    format!(
        "{} (doc {number}).imvault-{stamp}.json",
        component(name, "untitled")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awkward_names_become_safe_components() {
        assert_eq!(component("Q1/Q2 review", "x"), "Q1_Q2 review");
        assert_eq!(component("Invoices: paid", "x"), "Invoices_ paid");
        assert_eq!(component("trailing ", "x"), "trailing");
        assert_eq!(component("..", "x"), "x");
        assert_eq!(component("", "x"), "x");
        assert_eq!(component("CON", "x"), "_CON");
        assert_eq!(component("con.txt", "x"), "_con.txt");
        assert_eq!(component("a\u{0}b\nc", "x"), "a_b_c");
        assert_eq!(component("株式会社 山田製作所", "x"), "株式会社 山田製作所");
        let long = "é".repeat(200);
        let c = component(&long, "x");
        assert!(
            c.len() <= MAX_NAME_BYTES && c.chars().all(|ch| ch == 'é'),
            "{c}"
        );
        assert_eq!(
            version_file("Lease \"final\" <v2>", 453, 2, Some("docx")),
            "Lease _final_ _v2_ (doc 453 v 2).docx"
        );
        assert_eq!(version_file("x", 1, 1, Some("../..")), "x (doc 1 v 1)");
        assert_eq!(sidecar_file("x/y", 7), "x_y (doc 7).imvault.json");
        assert_eq!(
            merge_sidecar_file("x/y", 7, "20261208T013000.123Z"),
            "x_y (doc 7).imvault-20261208T013000.123Z.json"
        );
    }

    /// Issue 18: a directory never takes a name of a file the export writes next to it.
    #[test]
    fn directories_never_take_the_names_of_imvaults_files() {
        for (name, number) in [
            ("Memo (doc 5 v 1).pdf", 9),
            ("Memo (doc 5 v 1)", 9),
            ("imvault-container.json", 3),
            ("imvault-restore.json", 3),
            ("imvault-restore-items.jsonl", 3),
            ("Lease (doc 7).imvault.json", 4),
            ("Q (search folder 2).imvault.json", 4),
            ("Lease (doc 7).imvault-20261208T013000.123Z.json", 4),
        ] {
            let d = directory(name, number);
            assert_ne!(d, component(name, "x"), "{name}");
            assert_eq!(d, format!("{} ({number})", component(name, "x")));
            assert!(!is_imvault_file_name(&d), "{d}");
        }
        // A version file's name, made for any document, is never a directory's.
        let file = version_file("Memo", 5, 1, Some("pdf"));
        assert_ne!(directory(&file, 9), file);
        // Ordinary names stay as they are.
        assert_eq!(directory("Matter 2024 (draft)", 9), "Matter 2024 (draft)");
        assert_eq!(directory("Notes (doc review)", 9), "Notes (doc review)");
        assert_eq!(directory("v1.2", 9), "v1.2");
        assert_eq!(directory("", 9), "container 9");
    }
}
