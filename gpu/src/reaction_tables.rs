//! The automaton's reaction tables (`loam_systems::materials::MaterialTable`)
//! as one buffer of words for `ca_move.wgsl`, which reads reactions from it
//! as the CPU reads them from the table.
//!
//! Layout (words; floats as their bits):
//! - per material id, [`MATERIAL_WORDS`] words: flags (1: reacts at all,
//!   2: has pair reactions), the range of its single-cell rules (start,
//!   end), the temperatures its single-cell rules span with fixed phase
//!   changes off (lo, hi) and on (lo, hi), its start temperature (a fire's
//!   flame) and its viscosity;
//! - at [`PAIRS_AT`], 256 × 256 words: 1 + the rule of a cell of `a` with a
//!   face neighbour of `b` (at `256·a + b`), or 0;
//! - at [`RULES_AT`], [`RULE_WORDS`] words per rule: what the two cells
//!   become, the rate, the window `lo <= t < hi`, the warming of each
//!   product, the floors of each product, and flags (1: a phase change,
//!   2 and 4: the first and second floors apply).

use loam_systems::materials::MaterialTable;

/// Words per material.
pub const MATERIAL_WORDS: usize = 10;
/// Where the pair index starts.
pub const PAIRS_AT: usize = 256 * MATERIAL_WORDS;
/// Where the rules start.
pub const RULES_AT: usize = PAIRS_AT + 256 * 256;
/// Words per rule.
pub const RULE_WORDS: usize = 10;

/// `table`'s reactions, laid out as above.
pub fn pack(table: &MaterialTable) -> Vec<u32> {
    let mut words = vec![0u32; RULES_AT + RULE_WORDS * table.rules().len()];
    for m in 0..256usize {
        let id = m as u8;
        let at = m * MATERIAL_WORDS;
        let range = table.single_range(id);
        let [off, on] = table.single_window[m];
        words[at] = u32::from(table.reactive[m]) | u32::from(table.has_pairs[m]) << 1;
        words[at + 1] = range.start as u32;
        words[at + 2] = range.end as u32;
        words[at + 3..at + 7].copy_from_slice(&[off.0, off.1, on.0, on.1].map(f32::to_bits));
        words[at + 7] = table.start_temperature[m].to_bits();
        words[at + 8] = table.viscosity[m].to_bits();
        for b in 0..256usize {
            if let Some(k) = table.pair_index(id, b as u8) {
                words[PAIRS_AT + 256 * m + b] = k as u32 + 1;
            }
        }
    }
    for (k, rule) in table.rules().iter().enumerate() {
        let at = RULES_AT + RULE_WORDS * k;
        let floor = |f: Option<f32>| f.unwrap_or(0.0).to_bits();
        words[at..at + RULE_WORDS].copy_from_slice(&[
            u32::from(rule.into[0]),
            u32::from(rule.into[1]),
            rule.rate.to_bits(),
            rule.lo.to_bits(),
            rule.hi.to_bits(),
            rule.warm[0].to_bits(),
            rule.warm[1].to_bits(),
            floor(rule.at_least[0]),
            floor(rule.at_least[1]),
            u32::from(rule.phase_change)
                | u32::from(rule.at_least[0].is_some()) << 1
                | u32::from(rule.at_least[1].is_some()) << 2,
        ]);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use loam_systems::materials::id;

    #[test]
    fn the_built_in_reactions_are_where_the_kernel_looks() {
        let table = MaterialTable::default();
        let words = pack(&table);
        let quench = table.pair_index(id::LAVA, id::WATER).unwrap();
        assert_eq!(
            words[PAIRS_AT + 256 * id::LAVA as usize + id::WATER as usize],
            quench as u32 + 1
        );
        let at = RULES_AT + RULE_WORDS * quench;
        assert_eq!(
            words[at..at + 2],
            [u32::from(id::BASALT), u32::from(id::STEAM)]
        );
        assert_eq!(f32::from_bits(words[at + 8]), 403.15);
        assert_eq!(words[at + 9], 4, "only the second product has a floor");
        let fire = id::FIRE as usize * MATERIAL_WORDS;
        assert_eq!(words[fire] & 3, 3, "fire reacts and has pairs");
        assert_eq!(f32::from_bits(words[fire + 7]), 1200.0);
        assert_eq!(words[id::SAND as usize * MATERIAL_WORDS], 0);
    }
}
