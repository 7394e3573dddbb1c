//! Word lists that make the corpus look like a law firm's: clients, matters, people, groups,
//! document titles (unicode and awkward ones included) and a legal vocabulary for text content.

use super::hash::{Rng, below, pick};

/// (id, display name) of the users that appear in ACLs and as authors.
pub const USERS: &[(&str, &str)] = &[
    ("JSMITH", "Jane Smith"),
    ("FMUELLER", "Franz Müller"),
    ("SOSTERGAARD", "Søren Østergaard"),
    ("NDUBOIS", "Noémie Dubois"),
    ("HTANAKA", "田中 浩"),
    ("OOBRIEN", "Orla O'Brien"),
    ("AKOWALSKA", "Agnieszka Kowalska"),
    ("RPATEL", "Ravi Patel"),
    ("LGARCIA", "Lucía García"),
    ("MROSSI", "Marco Rossi"),
    ("ECHEN", "Emily Chen"),
    ("DNGUYEN", "Đức Nguyễn"),
    ("ZOKAFOR", "Zainab Okafor"),
    ("PJOHANSSON", "Per Johansson"),
];

/// (id, display name) of the groups that appear in ACLs.
pub const GROUPS: &[(&str, &str)] = &[
    ("LITIGATION", "Litigation"),
    ("CORPORATE", "Corporate M&A"),
    ("EMPLOYMENT", "Employment"),
    ("IP", "Intellectual Property"),
    ("FINANCE", "Finance & Billing"),
    ("PARTNERS", "Partners"),
    ("RECORDS", "Records Management"),
    ("LONDON_OFFICE", "London Office"),
];

pub const CLIENTS: &[&str] = &[
    "Acme Holdings plc",
    "Müller & Söhne GmbH",
    "Société Générale d'Études",
    "Østergaard A/S",
    "株式会社 山田製作所",
    "O'Brien & Daughters Ltd",
    "Nguyễn Trading Co.",
    "Café «Zürich» AG",
    "Northwind Traders",
    "Contoso Pharma Inc.",
    "Fabrikam / Tailspin JV",
    "Ålesund Fisk AS",
    "Banco São João S.A.",
    "Łódź Logistics Sp. z o.o.",
    "Ελληνική Ναυτιλία Α.Ε.",
    "City of Springfield",
];

pub const MATTERS: &[&str] = &[
    "Acquisition of Target Co",
    "Employment tribunal claim",
    "Patent infringement (EP 1 234 567)",
    "Commercial lease renewal",
    "Data protection audit",
    "Shareholder dispute",
    "Refinancing 2024",
    "Trademark opposition",
    "Supply agreement",
    "Regulatory investigation",
    "Estate planning",
    "Construction arbitration",
];

pub const TABS: &[&str] = &[
    "Documents",
    "Correspondence",
    "Pleadings",
    "Agreements",
    "Billing",
    "Research",
    "E-mails",
    "Due Diligence",
];

pub const FOLDERS: &[&str] = &[
    "Drafts",
    "Final",
    "Signed copies",
    "Court filings",
    "Exhibits",
    "Notes",
    "Client / Counterparty",
    "2023",
    "2024",
    "Q1/Q2 review",
    "Übersetzungen",
    "Résumés",
    "Board minutes",
    "Invoices: paid",
    "Very long folder name that keeps going well past what most file systems like to see in one path component",
    "trailing space ",
    "契約書",
];

pub const DOC_TITLES: &[&str] = &[
    "Share purchase agreement",
    "Letter to client",
    "Reply brief",
    "Witness statement",
    "Board resolution",
    "Engagement letter",
    "Memo re limitation period",
    "Disclosure schedule",
    "Draft NDA",
    "Invoice",
    "Attendance note",
    "Particulars of claim",
    "Vertragsentwurf (überarbeitet)",
    "Note à l'attention du client",
    "議事録",
    "Report: Q3/Q4 \"final\" (2)",
    "résumé — candidate",
    "Notes <privileged> *draft*",
    "CON",
    "..hidden?",
];

pub const EMAIL_SUBJECTS: &[&str] = &[
    "RE: Draft agreement",
    "FW: Signed copy",
    "Call tomorrow?",
    "AW: Vertragsentwurf",
    "RE: RE: Disclosure – urgent",
    "Meeting notes 🗓️",
    "Invoice query",
];

pub const CLASSES: &[(&str, &str)] = &[
    ("DOC", "AGREEMENT"),
    ("DOC", "LETTER"),
    ("DOC", "MEMO"),
    ("PLEADING", "BRIEF"),
    ("PLEADING", "MOTION"),
    ("FINANCE", "INVOICE"),
];

const WORDS: &[&str] = &[
    "the",
    "party",
    "agreement",
    "shall",
    "hereby",
    "pursuant",
    "to",
    "clause",
    "of",
    "and",
    "in",
    "witness",
    "whereof",
    "indemnify",
    "notwithstanding",
    "liability",
    "court",
    "claim",
    "defendant",
    "plaintiff",
    "schedule",
    "counterparty",
    "warranty",
    "breach",
    "termination",
    "confidential",
    "disclosure",
    "governing",
    "law",
    "jurisdiction",
    "arbitration",
    "hearing",
    "evidence",
    "exhibit",
    "section",
    "subject",
    "provided",
    "that",
    "any",
    "such",
    "notice",
    "client",
    "matter",
    "counsel",
    "memorandum",
    "advice",
    "privileged",
    "settlement",
    "damages",
    "respect",
    "obligations",
    "herein",
    "thereof",
    "limitation",
    "period",
    "consideration",
    "Müller",
    "société",
    "Østergaard",
    "§",
    "€",
    "£",
    "2024",
    "v.",
    "re:",
    "Ltd.",
    "GmbH",
];

/// Fill `out` with text-like bytes (a legal vocabulary) from a seeded generator.
pub fn fill_text(seed: u64, out: &mut [u8]) {
    let mut rng = Rng::new(seed);
    let mut i = 0;
    let mut words_on_line = 0;
    while i < out.len() {
        let w = pick(rng.next_u64(), WORDS).as_bytes();
        if w.len() > out.len() - i {
            // Never cut a multi-byte character: pad the block's tail with spaces.
            out[i..].fill(b' ');
            break;
        }
        out[i..i + w.len()].copy_from_slice(w);
        i += w.len();
        if i < out.len() {
            words_on_line += 1;
            out[i] = if words_on_line > 10 + below(rng.next_u64(), 6) {
                words_on_line = 0;
                b'\n'
            } else {
                b' '
            };
            i += 1;
        }
    }
}
