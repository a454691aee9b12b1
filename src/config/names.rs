//! Names derived from the instance name, and table name globs.

/// The default slot and publication name of an instance: `ingest_<name>`,
/// so that two instances on one database never share a slot (each would
/// consume the other's changes). Names that are not already lower-case
/// letters, digits and `_` are lowered, `-` becomes `_`, and a hash of the
/// original name is appended so that `Demo` and `demo` stay apart; the
/// result fits PostgreSQL's 63 bytes.
pub fn default_slot(instance: &str) -> String {
    let plain: String = instance
        .chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    let mut name = format!("ingest_{plain}");
    let hashed = plain != instance || name.len() > 63;
    if hashed {
        name.truncate(54);
        name.push_str(&format!("_{:08x}", fnv1a(instance)));
    }
    name
}

fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h
}

/// A replica id derived from the instance name (FNV-1a), away from the
/// small ids people give their servers by hand.
pub fn default_server_id(instance: &str) -> u32 {
    1_000_000 + fnv1a(instance) % 1_000_000_000
}

/// Shell-style glob over one name: `*` any run, `?` one character.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
