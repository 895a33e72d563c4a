//! A mirror steps the fields as the CPU does, and is sent only the bricks
//! the CPU wrote: checked with a mirror in host memory that follows the
//! protocol of `loam_systems::fields::mirror` (the GPU's follows it too).

use std::collections::HashMap;

use loam_systems::fields::{
    diffuse_bricks, FieldConfig, FieldMirror, Fields, MirrorStep, MirrorSync, Peaks, Scalar,
    BRICK_CELLS, CHANNELS,
};

/// The fields' copy in plain vectors, keyed by brick coordinates.
#[derive(Default)]
struct HostMirror {
    coords: Vec<[i32; 3]>,
    neighbours: Vec<[Option<usize>; 6]>,
    channels: [Vec<[f32; BRICK_CELLS]>; CHANNELS],
    /// Bricks sent so far.
    sent: usize,
    /// Substeps left before one fails (as a lost device would), if any.
    fail_in: Option<usize>,
}

/// A substep that failed.
#[derive(Debug)]
struct Lost;

impl FieldMirror for HostMirror {
    type Error = Lost;

    fn sync(&mut self, sync: MirrorSync<'_>) -> Result<(), Lost> {
        let old: HashMap<[i32; 3], usize> = self
            .coords
            .iter()
            .enumerate()
            .map(|(k, &b)| (b, k))
            .collect();
        for channel in &mut self.channels {
            *channel = sync
                .coords
                .iter()
                .map(|b| old.get(b).map_or([0.0; BRICK_CELLS], |&j| channel[j]))
                .collect();
        }
        self.coords = sync.coords.to_vec();
        self.neighbours = sync.neighbours.to_vec();
        for &k in sync.written {
            for (mine, theirs) in self.channels.iter_mut().zip(sync.channels) {
                mine[k] = theirs[k];
            }
        }
        self.sent += sync.written.len();
        Ok(())
    }

    fn substep(&mut self, steps: &[MirrorStep]) -> Result<Vec<Vec<Peaks>>, Lost> {
        if let Some(left) = self.fail_in.as_mut() {
            if *left == 0 {
                self.fail_in = None;
                // Half done, as a device lost mid-substep leaves it.
                self.channels[0].iter_mut().for_each(|b| b.fill(f32::NAN));
                return Err(Lost);
            }
            *left -= 1;
        }
        Ok(steps
            .iter()
            .map(|s| {
                let out: Vec<[f32; BRICK_CELLS]> =
                    diffuse_bricks(&self.channels[s.channel], &self.neighbours, s.alpha)
                        .into_iter()
                        .map(|b| b.map(|v| v * s.scale))
                        .collect();
                let peaks = out.iter().map(Peaks::of).collect();
                self.channels[s.channel] = out;
                peaks
            })
            .collect())
    }

    fn read(&mut self, channels: &mut [Vec<[f32; BRICK_CELLS]>; CHANNELS]) -> Result<(), Lost> {
        channels.clone_from(&self.channels);
        Ok(())
    }
}

/// Every field cell of the box around the blast, as bits.
fn cells(f: &Fields) -> Vec<u32> {
    let mut out = Vec::new();
    for z in -4..28 {
        for y in -4..28 {
            for x in -4..28 {
                let s = f.cell([x, y, z]);
                out.extend(s.kinetic.map(f32::to_bits));
                out.push(s.pressure.to_bits());
                out.push(s.thermal.to_bits());
            }
        }
    }
    out
}

#[test]
fn a_mirror_steps_as_the_cpu_does_and_is_sent_only_what_the_cpu_wrote() {
    let (mut cpu, mut mirrored) = (
        Fields::new(FieldConfig::default()),
        Fields::new(FieldConfig::default()),
    );
    let mut mirror = HostMirror::default();
    let dt = 1.0 / 60.0;
    let mut most = 0;
    let mut freed = false;
    for frame in 0..90 {
        let sent = mirror.sent;
        // The CPU writes on some frames only.
        let writes = match frame {
            0 => 1,
            20 | 21 => 2,
            _ => 0,
        };
        for f in [&mut cpu, &mut mirrored] {
            match frame {
                0 => f.add_explosion([48.0, 48.0, 48.0], 24.0, 2.0e5, 800.0),
                20 | 21 => {
                    f.add_scalar(Scalar::Thermal, [10.0, 60.0, 10.0], 50.0);
                    f.add_force([80.0, 20.0, 30.0], [3.0, 0.0, 0.0]);
                }
                _ => {}
            }
        }
        let written_now = if writes > 0 { mirrored.bricks() } else { 0 };
        cpu.step(dt);
        mirrored
            .step_mirrored(dt, &mut mirror)
            .expect("the host mirror fails only when told to");
        assert_eq!(mirrored.bricks(), cpu.bricks(), "frame {frame}");
        assert!(
            cells(&mirrored) == cells(&cpu),
            "frame {frame}: the cells differ"
        );
        if writes == 0 {
            assert_eq!(
                mirror.sent, sent,
                "frame {frame}: nothing written, nothing sent"
            );
        } else {
            assert!(
                mirror.sent > sent && mirror.sent - sent <= written_now,
                "frame {frame}: sent {} bricks of {written_now}",
                mirror.sent - sent
            );
        }
        freed |= cpu.bricks() < most;
        most = most.max(cpu.bricks());
    }
    assert!(most > 50, "the blast spread over {most} bricks");
    assert!(freed, "bricks were freed, and the mirror followed");
}

#[test]
fn after_a_failed_substep_the_next_step_sends_every_brick_and_steps_as_the_cpu() {
    let mut mirrored = Fields::new(FieldConfig::default());
    mirrored.add_explosion([48.0, 48.0, 48.0], 24.0, 2.0e5, 800.0);
    let mut mirror = HostMirror::default();
    let dt = 1.0 / 60.0;
    for _ in 0..3 {
        mirrored
            .step_mirrored(dt, &mut mirror)
            .expect("no failure yet");
    }
    // The second substep of the next step fails, the mirror's copy garbled.
    mirror.fail_in = Some(1);
    assert!(mirrored.step_mirrored(dt, &mut mirror).is_err());
    // The CPU's copy is whole (the step did not happen), and the next step
    // starts over from it.
    let mut cpu = mirrored.clone();
    let (sent, bricks) = (mirror.sent, mirrored.bricks());
    for frame in 0..20 {
        cpu.step(dt);
        mirrored
            .step_mirrored(dt, &mut mirror)
            .expect("the failure was once");
        if frame == 0 {
            assert_eq!(mirror.sent - sent, bricks, "every brick sent again");
        }
        assert_eq!(mirrored.bricks(), cpu.bricks(), "frame {frame}");
        assert!(
            cells(&mirrored) == cells(&cpu),
            "frame {frame}: the cells differ"
        );
    }
}
