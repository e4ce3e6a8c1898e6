//! Rebuilds the crate when anything under `sql/` changes. Migrations
//! (refinery's `embed_migrations!`) and queries (`include_str!`) are
//! embedded at compile time, and cargo does not notice a file newly added
//! to those folders by itself.
fn main() {
    println!("cargo:rerun-if-changed=sql");
}
