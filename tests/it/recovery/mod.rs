//! Recovery after an attack (issue 15): `imvault recover --as-of` on a versioned bucket.

mod recover;
