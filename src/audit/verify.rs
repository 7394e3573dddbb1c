//! Checking every writer's chain (`imvault verify`): each record opens with the repository key
//! and sits under its own name, seqs run 1, 2, 3… without a gap, and each record carries the
//! hash of the stored bytes of the one before. Nothing is modified.

use super::AuditError;
use super::chain::{self, Tail};

/// What is wrong, and with which record (or writer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProblem {
    /// The record's key (`audit/<writer>/<seq>`), or the writer's prefix for a gap.
    pub object: String,
    pub kind: ChainProblemKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainProblemKind {
    /// A record that does not open, decode, or sit under its own name.
    Record,
    /// A record missing, out of order, or not linked to the one before.
    Chain,
}

/// What the check looked at and found.
#[derive(Debug, Clone, Default)]
pub struct ChainReport {
    pub writers: u64,
    pub records: u64,
    pub problems: Vec<ChainProblem>,
}

/// Checks every chain. `local_head`: the last record this host's writer wrote, as its state
/// directory remembers it: records after the last one listed are otherwise undetectable.
pub async fn verify_chains(
    objects: &crate::repo::Objects,
    local_head: Option<(&str, Tail)>,
) -> Result<ChainReport, AuditError> {
    let (writers, strays) = chain::list_all(objects).await?;
    let mut r = ChainReport {
        writers: writers.len() as u64,
        ..ChainReport::default()
    };
    for s in strays {
        r.problems.push(ChainProblem {
            object: s.to_string(),
            kind: ChainProblemKind::Record,
            detail: "is not named audit/<writer>/<seq>".into(),
        });
    }
    for (writer, records) in &writers {
        let mut expected_seq = 1u64;
        let mut prev: Option<[u8; 32]> = None;
        for (&seq, key) in records {
            r.records += 1;
            if seq != expected_seq {
                r.problems.push(ChainProblem {
                    object: format!("audit/{writer}"),
                    kind: ChainProblemKind::Chain,
                    detail: format!(
                        "chain of writer {writer} is broken: record{} {} missing (next present: {seq})",
                        if seq - expected_seq > 1 { "s" } else { "" },
                        if seq - expected_seq > 1 {
                            format!("{expected_seq} to {}", seq - 1)
                        } else {
                            expected_seq.to_string()
                        }
                    ),
                });
                // What follows is checked against nothing it could be linked to.
                prev = None;
            }
            expected_seq = seq + 1;
            match chain::read_record(objects, key).await {
                Err(e) => {
                    r.problems.push(ChainProblem {
                        object: key.to_string(),
                        kind: ChainProblemKind::Record,
                        detail: crate::repo::error_chain(&e),
                    });
                    // Named once: the next record's link to it is not checked.
                    prev = None;
                }
                Ok((rec, hash)) => {
                    let carried = rec.prev.as_deref();
                    let expected = prev.map(hex::encode);
                    let linked = match (seq, &expected) {
                        (1, _) => carried.is_none(),
                        (_, Some(e)) => carried == Some(e.as_str()),
                        // After a gap or an unreadable record: nothing to compare with.
                        (_, None) => true,
                    };
                    if !linked {
                        r.problems.push(ChainProblem {
                            object: key.to_string(),
                            kind: ChainProblemKind::Chain,
                            detail: format!(
                                "record {seq} of writer {writer} does not carry the hash of record {} (records were replaced, reordered or removed)",
                                seq.saturating_sub(1)
                            ),
                        });
                    }
                    prev = Some(hash);
                }
            }
        }
    }
    if let Some((writer, head)) = local_head {
        let last = writers
            .get(writer)
            .and_then(|m| m.keys().next_back().copied())
            .unwrap_or(0);
        if last < head.seq {
            r.problems.push(ChainProblem {
                object: format!("audit/{writer}"),
                kind: ChainProblemKind::Chain,
                detail: format!(
                    "this host wrote audit records up to {} for writer {writer}, but the repository's last is {last}: the last record{} removed",
                    head.seq,
                    if head.seq - last > 1 { "s were" } else { " was" }
                ),
            });
        }
    }
    Ok(r)
}
