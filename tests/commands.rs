//! Commands from code are checked like scenario files: random commands
//! (shapes inside, across and far outside the world, unknown materials,
//! NaN and infinite values) are either refused as they are sent, with a
//! message, or applied without a panic, a non-finite temperature or an
//! unknown material in the world. Fields stay inside the world whatever a
//! command's shape reaches, so no frame does more work than the world's
//! own field cells take.

use loam::loam_systems::fields::{Fields, Scalar};
use loam::{
    Command, Emitter, ExplosionSpec, Fill, HeatBathSpec, PressureSpec, Runtime, Scenario,
    SendError, Shape, WindSpec,
};

/// SplitMix64: the test's own counter-based randomness.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A float that is sometimes NaN, infinite, negative or huge.
    fn value(&mut self, typical: f64) -> f64 {
        match self.below(12) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => -typical * 3.0,
            3 => typical * 1e6,
            _ => typical * (self.below(1000) as f64 / 500.0),
        }
    }

    /// A coordinate inside a 64-cell axis, mostly, or well outside it.
    fn coord(&mut self) -> f64 {
        match self.below(8) {
            0 => -(self.below(100) as f64),
            1 => 64.0 + self.below(1000) as f64,
            _ => self.below(64) as f64,
        }
    }

    fn corner(&mut self) -> [u32; 3] {
        [(); 3].map(|_| match self.below(8) {
            0 => 1000,
            1 => 0,
            _ => self.below(70) as u32,
        })
    }

    fn material(&mut self) -> u8 {
        if self.below(6) == 0 {
            200 + self.below(56) as u8
        } else {
            self.below(8) as u8
        }
    }

    fn frames(&mut self) -> [u64; 2] {
        let a = self.below(10);
        [a, a + self.below(12)]
    }

    fn command(&mut self) -> Command {
        let center = [self.coord(), self.coord(), self.coord()];
        let radius = self.value(4.0);
        let temperature = (self.below(3) == 0).then(|| self.value(400.0) as f32);
        match self.below(6) {
            0 => Command::Place(Fill {
                shape: if self.below(2) == 0 {
                    Shape::Sphere { center, radius }
                } else {
                    Shape::Box {
                        min: self.corner().map(i64::from),
                        max: self.corner().map(i64::from),
                    }
                },
                material: self.material(),
                temperature,
            }),
            1 => Command::SpawnEmitter(Emitter {
                material: self.material(),
                center,
                radius,
                frames: self.frames(),
                temperature,
            }),
            2 => Command::Explode(ExplosionSpec {
                center,
                radius,
                strength: self.value(50_000.0),
                heat: self.value(300.0),
            }),
            3 => {
                let d = [self.value(1.0), self.value(1.0), self.value(1.0)];
                let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt();
                Command::Wind(WindSpec {
                    min: self.corner(),
                    max: self.corner(),
                    // Mostly a unit vector, as the rules ask.
                    direction: if self.below(4) == 0 {
                        d
                    } else {
                        d.map(|v| v / norm)
                    },
                    strength: self.value(10.0),
                    gust: self.value(0.3),
                    frames: self.frames(),
                })
            }
            4 => Command::Pressure(PressureSpec {
                min: self.corner(),
                max: self.corner(),
                pressure: self.value(20_000.0),
                frames: self.frames(),
            }),
            _ => Command::Heat(HeatBathSpec {
                min: self.corner(),
                max: self.corner(),
                temperature: self.value(500.0) as f32,
                frames: self.frames(),
            }),
        }
    }
}

#[test]
fn random_commands_are_refused_or_applied_harmlessly() {
    let materials = loam::loam_systems::MaterialTable::default().len();
    let (mut sent, mut refused) = (0, 0);
    for seed in 0..6u64 {
        let mut scenario = Scenario::empty("commands", [64, 64, 64]);
        scenario.world.page = 16;
        scenario.run.threads = 1 + (seed % 2) as usize;
        let mut rt = Runtime::new(scenario).unwrap();
        let sender = rt.command_sender();
        let mut draws = Draws(seed);
        for frame in 0..12 {
            for _ in 0..8 {
                let command = draws.command();
                let expected = command.check([64, 64, 64], 101_325.0);
                match sender.send(command) {
                    Ok(()) => {
                        assert!(expected.is_ok());
                        sent += 1;
                    }
                    Err(SendError::Invalid { message, .. }) => {
                        assert_eq!(Err(message.clone()), expected);
                        assert!(!message.is_empty());
                        refused += 1;
                    }
                    Err(e) => panic!("seed {seed}, frame {frame}: {e}"),
                }
            }
            rt.step().unwrap();
            let world = rt.world();
            assert_eq!(
                world.first_non_finite_temperature(),
                None,
                "seed {seed}, frame {frame}: a command let a non-finite temperature in"
            );
            let counts = world.material_counts();
            assert!(
                counts[materials..].iter().all(|&n| n == 0),
                "seed {seed}, frame {frame}: a command wrote a material not in the table"
            );
            drop(world);
            let fields = rt.engine().resource::<Fields>().unwrap();
            // 64 voxels are 16 field cells of 4, two bricks of 8.
            let outside: Vec<_> = fields
                .brick_coords()
                .iter()
                .filter(|b| b.iter().any(|&v| !(0..2).contains(&v)))
                .collect();
            assert!(
                outside.is_empty(),
                "seed {seed}, frame {frame}: field bricks outside the world at {outside:?}"
            );
            for field in [Scalar::Pressure, Scalar::Thermal] {
                // A sum is finite only if every value is.
                let total = fields.total(field);
                assert!(
                    total.is_finite(),
                    "seed {seed}, frame {frame}: {field:?} sums to {total}"
                );
            }
        }
    }
    assert!(
        sent > 50 && refused > 50,
        "both kinds were drawn: {sent} sent, {refused} refused"
    );
}
