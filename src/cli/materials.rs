//! `loam materials`: a material table for people.

use std::fmt::Write;

use loam_systems::materials::{Kind, Reaction};
use loam_systems::MaterialTable;

/// The materials of `table` as a table (id, name, kind, density, start
/// temperature, ignition, colour), then its listed reactions.
pub fn listing(table: &MaterialTable) -> String {
    let mut out = format!(
        "{:<4}{:<14}{:<8}{:>9}{:>10}{:>10}  {}\n",
        "id", "name", "kind", "kg/m3", "start K", "ignites", "colour"
    );
    for (id, m) in table.iter() {
        let ignition = m
            .ignition
            .map_or_else(|| "-".to_string(), |t| format!("{t}"));
        let [r, g, b] = m.color;
        let _ = writeln!(
            out,
            "{id:<4}{:<14}{:<8}{:>9}{:>10}{:>10}  #{r:02x}{g:02x}{b:02x}",
            m.name,
            m.kind.name(),
            m.density,
            m.spawn_temperature,
            ignition,
        );
    }
    let fires = table
        .iter()
        .filter(|(_, m)| m.kind == Kind::Fire && m.spread > 0.0);
    for (_, fire) in fires {
        let _ = writeln!(
            out,
            "\n{} spreads to flammable neighbours at {} per frame; what reaches its \
             ignition temperature catches fire at {} per frame",
            fire.name,
            fire.spread,
            loam_systems::materials::IGNITE_RATE
        );
    }
    for s in table.substances() {
        let phases: Vec<String> = s.phases.iter().map(|p| table.name(p.material)).collect();
        let _ = write!(out, "\nsubstance {}: {}", s.name, phases.join(", "));
        for t in &s.transitions {
            let _ = write!(
                out,
                "; {} -> {} at {} K",
                phases[t.from], phases[t.to], t.temperature
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\nreactions ({}):", table.reactions().len());
    for r in table.reactions() {
        let _ = writeln!(out, "  {}", describe(table, r));
    }
    out
}

/// One reaction on a line: `a + b -> x + y  rate 0.05, above 373.15 K`.
fn describe(table: &MaterialTable, r: &Reaction) -> String {
    let name = |m| table.name(m);
    let mut s = match r.b {
        Some(b) => format!(
            "{} + {} -> {} + {}",
            name(r.a),
            name(b),
            name(r.into[0]),
            name(r.into[1])
        ),
        None => format!("{} -> {}", name(r.a), name(r.into[0])),
    };
    let _ = write!(s, "  rate {}", r.rate);
    if let Some(t) = r.min_temperature {
        let _ = write!(s, ", above {t} K");
    }
    if let Some(t) = r.max_temperature {
        let _ = write!(s, ", below {t} K");
    }
    if r.heat != 0.0 {
        let _ = write!(s, ", heat {} J/m3", r.heat);
    }
    if r.phase_change {
        s += ", a phase change";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use loam_systems::materials::id;

    #[test]
    fn the_listing_names_every_material_and_reaction() {
        let table = MaterialTable::default();
        let text = listing(&table);
        for (_, m) in table.iter() {
            assert!(text.contains(&m.name), "{} missing", m.name);
        }
        assert!(text.contains("lava + water -> basalt + steam  rate 1"));
        assert!(text.contains("water -> steam  rate 0.05, above 373.15 K, a phase change"));
        assert!(text.contains(&format!("reactions ({})", table.reactions().len())));
        assert!(text.contains("substance water: water, ice, steam; ice -> water at 273.15 K"));
        assert_eq!(table.name(id::FIRE), "fire");
    }
}
