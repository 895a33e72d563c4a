//! Commands from code are checked like scenario files: random commands
//! (shapes inside, across and far outside the world, unknown materials,
//! NaN and infinite values, soft bodies of any size) are either refused as they are sent, with a
//! message, or applied without a panic, a non-finite temperature or an
//! unknown material in the world. Fields stay inside the world whatever a
//! command's shape reaches, so no frame does more work than the world's
//! own field cells take.

use loam::loam_systems::fields::{Fields, Scalar};
use loam::loam_systems::xpbd::SoftBox;
use loam::{
    Command, Emitter, ExplosionSpec, Fill, HeatBathSpec, PressureSpec, Runtime, Scenario,
    SendError, Shape, WindSpec,
};

mod common;
use common::Draws;

impl Draws {
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
        match self.below(7) {
            6 => {
                let material = loam::loam_systems::xpbd::materials()[self.below(3) as usize];
                let origin = [(); 3].map(|_| self.coord() as f32);
                // Small, mostly; now and then too many voxels, or none.
                let voxels = [(); 3].map(|_| match self.below(10) {
                    0 => 0,
                    1 => 200,
                    _ => 1 + self.below(4) as u32,
                });
                let mut body = SoftBox::new("random", origin, voxels, material);
                body.velocity = [(); 3].map(|_| self.value(5.0) as f32);
                Command::SpawnBody(Box::new(body))
            }
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
    let (mut sent, mut refused, mut bodies) = (0, 0, 0);
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
                let expected = command.check(
                    [64, 64, 64],
                    101_325.0,
                    &loam::loam_systems::MaterialTable::default(),
                );
                let body = matches!(command, Command::SpawnBody(_));
                match sender.send(command) {
                    Ok(_handle) => {
                        assert!(expected.is_ok());
                        sent += 1;
                        bodies += usize::from(body);
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
        sent > 30 && refused > 30 && bodies > 0,
        "both kinds were drawn: {sent} sent ({bodies} bodies), {refused} refused"
    );
}

/// A 64³ world of air with a stone floor, one thread.
fn small_world() -> Runtime {
    let mut scenario = Scenario::empty("handles", [64, 64, 64]);
    scenario.world.page = 16;
    scenario.run.threads = 1;
    scenario.fills.push(Fill {
        shape: Shape::Box {
            min: [0, 0, 0],
            max: [64, 4, 64],
        },
        material: loam::loam_systems::materials::id::STONE,
        temperature: None,
    });
    Runtime::new(scenario).unwrap()
}

fn place(material: u8, at: [u32; 3]) -> Command {
    Command::Place(Fill {
        shape: Shape::Box {
            min: at.map(i64::from),
            max: at.map(|v| i64::from(v) + 1),
        },
        material,
        temperature: None,
    })
}

fn winds(rt: &Runtime) -> Vec<WindSpec> {
    let actors = rt
        .engine()
        .resources()
        .try_read::<loam::hecs::World>()
        .unwrap();
    let mut query = actors.query::<&WindSpec>();
    query.iter().copied().collect()
}

fn wind(frames: [u64; 2]) -> Command {
    Command::Wind(WindSpec {
        min: [0, 4, 0],
        max: [64, 32, 64],
        direction: [1.0, 0.0, 0.0],
        strength: 5.0,
        gust: 0.0,
        frames,
    })
}

#[test]
fn a_sent_commands_frames_count_from_the_frame_it_applies_in() {
    let mut rt = small_world();
    rt.run(10).unwrap();
    rt.command_sender().send(wind([0, 5])).unwrap();
    rt.step().unwrap();
    assert_eq!(winds(&rt)[0].frames, [10, 15], "applied in frame 10");
    rt.command_sender().send_at(30, wind([2, 4])).unwrap();
    rt.run(25).unwrap();
    assert_eq!(winds(&rt)[1].frames, [32, 34], "sent for frame 30");
}

#[test]
fn send_at_applies_in_its_frame_in_the_order_sent_and_refuses_a_frame_begun() {
    use loam::loam_systems::materials::id;
    let mut rt = small_world();
    let sender = rt.command_sender();
    sender.send_at(5, place(id::SAND, [10, 30, 10])).unwrap();
    sender.send_at(3, place(id::STONE, [20, 30, 20])).unwrap();
    sender.send_at(5, place(id::WOOD, [10, 30, 10])).unwrap();
    rt.run(3).unwrap();
    assert_eq!(
        rt.world().material([20, 30, 20]),
        Some(id::AIR),
        "frame 3 not yet run"
    );
    rt.step().unwrap();
    assert_eq!(
        rt.world().material([20, 30, 20]),
        Some(id::STONE),
        "frame 3"
    );
    assert_eq!(rt.world().material([10, 30, 10]), Some(id::AIR));
    rt.run(2).unwrap();
    assert_eq!(
        rt.world().material([10, 30, 10]),
        Some(id::WOOD),
        "wood after sand"
    );
    match sender.send_at(4, place(id::SAND, [1, 30, 1])) {
        Err(SendError::Late { frame, taken, .. }) => assert_eq!((frame, taken), (4, 5)),
        other => panic!("{other:?}"),
    }
}

/// Lockstep: the same commands for the same frames give the same world,
/// whether sent all at once before the first frame or each from another
/// thread just before its frame.
#[test]
fn commands_sent_for_their_frames_give_one_world_however_they_are_sent() {
    use loam::loam_systems::materials::id;
    let plan: Vec<(u64, Command)> = (0..12u32)
        .map(|k| {
            let material = [id::SAND, id::WATER, id::LAVA][(k % 3) as usize];
            (u64::from(k) * 2 + 1, place(material, [8 + 4 * k, 40, 30]))
        })
        .chain([(6, wind([0, 10])), (9, wind([0, 3]))])
        .collect();
    let mut upfront = small_world();
    for (frame, command) in &plan {
        upfront
            .command_sender()
            .send_at(*frame, command.clone())
            .unwrap();
    }
    upfront.run(40).unwrap();

    let mut threaded = small_world();
    for frame in 0..40 {
        let due: Vec<_> = plan
            .iter()
            .filter(|(f, _)| *f == frame + 1)
            .cloned()
            .collect();
        let sender = threaded.command_sender();
        std::thread::spawn(move || {
            for (f, c) in due {
                sender.send_at(f, c).unwrap();
            }
        })
        .join()
        .unwrap();
        threaded.step().unwrap();
    }
    assert_eq!(upfront.world_hash(), threaded.world_hash());
    assert_eq!((upfront.late_commands(), threaded.late_commands()), (0, 0));
}

#[test]
fn a_handle_cancels_what_its_command_started_or_the_command_waiting() {
    let mut rt = small_world();
    let sender = rt.command_sender();
    let gale = sender.send(wind([0, 1000])).unwrap();
    let later = sender.send_at(20, wind([0, 10])).unwrap();
    let other = sender.send(wind([0, 1000])).unwrap();
    assert!(gale != later && later != other);
    rt.run(2).unwrap();
    assert_eq!(winds(&rt).len(), 2);
    sender.cancel(gale).unwrap();
    sender.cancel(later).unwrap();
    rt.run(25).unwrap();
    assert_eq!(winds(&rt).len(), 1, "only the other wind blows");

    // Handles go with a saved state: the loaded game cancels by the same
    // handle, and its next handle is a new one.
    let dir = std::env::temp_dir().join(format!("loam-handles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let save = dir.join("game.loam");
    rt.save_state(&save).unwrap();
    let mut loaded = small_world();
    loaded.load_state(&save).unwrap();
    let sender = loaded.command_sender();
    let next = sender.send(wind([0, 5])).unwrap();
    assert!(next > other, "{next:?} after {other:?}");
    sender.cancel(other).unwrap();
    loaded.step().unwrap();
    assert_eq!(
        winds(&loaded).len(),
        1,
        "the other wind cancelled, the new one blows"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
