//! Document ACLs are stored once per distinct value: a document's ACL row keeps the value's
//! state hash and a variant number, the `acls` table the packed value. Two different values
//! with the same 64-bit state (a collision, or one crafted by whoever sets ACLs in iManage) get
//! different variants, so a row never points at another document's ACL.

use rusqlite::{Connection, params};

use crate::catalog::error::{CatalogError, SqlContext};
use crate::catalog::packed::{self, Dict};

/// The variant of the ACL `json` (packed as `packed`, state `state`) in the `acls` table,
/// added when no stored value of that state is the same text.
pub(super) fn acl_variant(
    conn: &Connection,
    state: &[u8; 8],
    json: &str,
    packed: &[u8],
    action: &dyn Fn() -> String,
) -> Result<i64, CatalogError> {
    let stored: Vec<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT variant, acl FROM acls WHERE state = ?1 ORDER BY variant")
        .and_then(|mut s| {
            s.query_map([&state[..]], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .ctx(action)?;
    for (variant, bytes) in &stored {
        if bytes.as_slice() == packed {
            return Ok(*variant);
        }
        // Packed by another build (another zstd) perhaps: compare the texts.
        let what = || format!("the stored ACL variant {variant} ({})", action());
        if packed::unpack_text(&what, Dict::Acl, bytes)? == json {
            return Ok(*variant);
        }
    }
    let variant = stored.last().map_or(0, |(v, _)| v + 1);
    conn.prepare_cached("INSERT INTO acls (state, variant, acl) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![&state[..], variant, packed]))
        .ctx(action)?;
    Ok(variant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn equal_acls_share_a_row_and_colliding_states_get_their_own_variant() {
        let cat = Catalog::open_in_memory().expect("catalog");
        let action = || "testing".to_string();
        let state = [7u8; 8];
        let (a, b) = (r#"{"default":"private"}"#, r#"{"default":"public"}"#);
        let (pa, pb) = (
            packed::pack_text(Dict::Acl, a).expect("pack"),
            packed::pack_text(Dict::Acl, b).expect("pack"),
        );
        let variant = |json: &str, p: &[u8]| {
            acl_variant(&cat.conn, &state, json, p, &action).expect("variant")
        };
        assert_eq!(variant(a, &pa), 0);
        assert_eq!(variant(a, &pa), 0, "the same value is not stored twice");
        assert_eq!(variant(b, &pb), 1, "another value with the same state");
        assert_eq!(variant(a, &pa), 0);
        assert_eq!(variant(b, &pb), 1);
        // The same text packed differently (another build's zstd) is still the same value.
        let other_packing = packed::pack_text_with_checksum(Dict::Acl, b);
        assert_ne!(other_packing, pb);
        assert_eq!(variant(b, &other_packing), 1);
        let rows: Vec<(i64, String)> = cat
            .conn
            .prepare("SELECT variant, acl FROM acls ORDER BY variant")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, Vec<u8>>(1)?)))
            .expect("query")
            .map(|r| {
                let (v, p) = r.expect("row");
                let text = packed::unpack_text(&action, Dict::Acl, &p).expect("unpack");
                (v, text)
            })
            .collect();
        assert_eq!(rows, [(0, a.to_string()), (1, b.to_string())]);
    }
}
