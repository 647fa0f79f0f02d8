//! Helpers shared by the cad test files.

/// Applies byte-level edits to `seed`: replace, insert, delete, or duplicate
/// a slice (which grows structure: tags, arrays).
pub fn mutate(seed: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for &(pos, op, byte) in edits {
        if out.is_empty() {
            out.push(byte);
            continue;
        }
        let pos = pos % out.len();
        match op % 4 {
            0 => out[pos] = byte,
            1 => out.insert(pos, byte),
            2 => {
                out.remove(pos);
            }
            _ => {
                let end = (pos + usize::from(byte)).min(out.len());
                let chunk = out[pos..end].to_vec();
                out.splice(pos..pos, chunk);
            }
        }
    }
    out
}
