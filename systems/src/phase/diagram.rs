//! Where each material sits in the phase diagrams of its table's
//! substances ([`crate::materials::diagram`] holds the model, re-exported
//! here).

pub use crate::materials::diagram::*;
use crate::materials::MaterialId;

/// Where each material id sits in the phase diagrams.
#[derive(Clone, Debug)]
pub struct PhaseTable {
    /// The substances.
    pub substances: Vec<Substance>,
    /// Per material id: (substance, phase) or `None` for materials without a
    /// phase diagram.
    pub of_material: [Option<(u8, u8)>; 256],
}

impl Default for PhaseTable {
    /// The built-in substances: water, basalt and carbon dioxide, from
    /// `systems/materials.toml`.
    fn default() -> Self {
        Self::of(&crate::materials::MaterialTable::default())
    }
}

impl PhaseTable {
    /// The phase diagrams of a material table's substances.
    pub fn of(materials: &crate::materials::MaterialTable) -> Self {
        Self::new(materials.substances().to_vec())
    }

    /// The substance called `name`.
    pub fn substance(&self, name: &str) -> Option<&Substance> {
        self.substances.iter().find(|s| s.name == name)
    }

    /// A table of `substances`.
    pub fn new(substances: Vec<Substance>) -> Self {
        let mut of_material = [None; 256];
        for (s, sub) in substances.iter().enumerate() {
            for (k, ph) in sub.phases.iter().enumerate() {
                of_material[ph.material as usize] = Some((s as u8, k as u8));
            }
        }
        Self {
            substances,
            of_material,
        }
    }

    /// Moles a voxel of substance `s` holds, for voxels of `voxel_size` m.
    pub fn moles(&self, s: usize, voxel_size: f64) -> f64 {
        let sub = &self.substances[s];
        sub.reference_density * voxel_size.powi(3) / sub.molar_mass
    }

    /// Volumetric heat capacity of material `m` in the phase model, J/(m³·K):
    /// the moles per cubic metre of its substance times the phase's cp.
    pub fn heat_capacity(&self, m: MaterialId) -> Option<f64> {
        let (s, k) = self.of_material[m as usize]?;
        Some(self.substances[s as usize].heat_capacity(k as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_capacities_of_phase_materials_match_the_phase_model() {
        let t = crate::materials::MaterialTable::default();
        let phases = PhaseTable::default();
        for (m, mat) in t.iter() {
            if let Some(c) = phases.heat_capacity(m) {
                let rel = (f64::from(mat.heat_capacity) - c).abs() / c;
                assert!(rel < 1e-3, "{}: {} vs {c}", mat.name, mat.heat_capacity);
            }
        }
    }

    fn substance(name: &str) -> Substance {
        PhaseTable::default().substance(name).cloned().unwrap()
    }

    #[test]
    fn water_boils_and_melts_where_measured() {
        let w = substance("water");
        let tb = w.coexistence(0, 2, P0, 300.0, 450.0).unwrap();
        assert!((tb - 373.15).abs() < 0.01, "{tb}");
        let tm = w.coexistence(1, 0, P0, 200.0, 300.0).unwrap();
        assert!((tm - 273.15).abs() < 0.05, "{tm}");
        // Steam tables: saturation temperature at these pressures.
        for (p, t) in [
            (20_000.0, 333.21),
            (47_390.0, 353.15),
            (198_530.0, 393.15),
            (500_000.0, 424.98),
        ] {
            let tb = w.coexistence(0, 2, p, 280.0, 500.0).unwrap();
            assert!((tb - t).abs() < 2.0, "{p} Pa: {tb} vs {t}");
        }
    }

    #[test]
    fn co2_has_no_liquid_at_one_atmosphere_but_has_one_above_its_triple_point() {
        let c = substance("co2");
        for t in (150..320).map(f64::from) {
            assert_ne!(c.stable_phase(t, P0), 0, "liquid at {t} K and 1 atm");
        }
        let ts = c.coexistence(1, 2, P0, 150.0, 250.0).unwrap();
        assert!((ts - 194.7).abs() < 0.1, "{ts}");
        assert_eq!(c.stable_phase(230.0, 1.0e6), 0, "liquid at 230 K, 10 bar");
    }

    #[test]
    fn the_table_finds_each_phase_by_material() {
        use crate::materials::id;
        let t = PhaseTable::default();
        assert_eq!(t.of_material[id::STEAM as usize], Some((0, 2)));
        assert_eq!(t.of_material[id::BASALT as usize], Some((1, 1)));
        assert_eq!(t.of_material[id::SAND as usize], None);
        let n = t.moles(0, 0.25);
        assert!((n - 867.3).abs() < 0.5, "{n}");
    }
}
