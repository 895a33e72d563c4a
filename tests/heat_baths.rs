//! A heat bath boils (or melts) what it holds above the transition
//! temperature and leaves it alone below, whatever else its box covers:
//! the liquid alone, the stone and air around it too, or the whole world.
//!
//! The runtime is driven end to end, so the order of the frame's jobs is
//! part of what is tested (a bath applied before the automaton took its
//! wake-ups with it, and the phase pass never looked at a uniform world).

use loam::loam_runtime::random::hash3;
use loam::loam_systems::materials::id;
use loam::loam_systems::phase::PhaseTable;
use loam::{Command, Fill, HeatBathSpec, Runtime, Scenario, ScheduledCommand, Shape};

const EDGE: u32 = 32;
/// The liquid (or ice) layer lies on stone in `FLOOR..TOP`.
const FLOOR: u32 = 4;
const TOP: u32 = 8;

fn world(pressure: f64, layer: u8, phase: bool) -> Scenario {
    let mut s = Scenario::empty("bath", [EDGE; 3]);
    s.world.page = 16;
    s.world.pressure = pressure;
    s.run.threads = 2;
    s.systems.phase = phase;
    // Ice starts, with everything around it, well below its melting point,
    // so that only the bath can melt it.
    let temperature = (layer == id::ICE).then_some(250.0);
    let slab = |lo: u32, hi: u32, material: u8| Fill {
        shape: Shape::Box {
            min: [0, i64::from(lo), 0],
            max: [i64::from(EDGE), i64::from(hi), i64::from(EDGE)],
        },
        material,
        temperature,
    };
    s.fills.push(slab(0, FLOOR, id::STONE));
    s.fills.push(slab(FLOOR, TOP, layer));
    s.fills.push(slab(TOP, EDGE, id::AIR));
    s
}

/// Transition temperature of `from` into `to` at `pressure`, from the phase
/// diagram the runtime uses.
fn transition(from: u8, to: u8, pressure: f64) -> f32 {
    let table = PhaseTable::default();
    let (s, a) = table.of_material[from as usize].expect("a phase material");
    let (_, b) = table.of_material[to as usize].expect("a phase material");
    table.substances[s as usize]
        .coexistence(a as usize, b as usize, pressure, 150.0, 700.0)
        .expect("a coexistence temperature") as f32
}

/// Boxes that cut into the layer, random over seeds, plus the cases users
/// try first: the layer exactly, the layer with the stone under it, the
/// layer with the air over it, and the whole world.
fn boxes() -> Vec<([u32; 3], [u32; 3])> {
    let mut out = vec![
        ([0, FLOOR, 0], [EDGE, TOP, EDGE]),
        ([0, 0, 0], [EDGE, TOP, EDGE]),
        ([0, FLOOR, 0], [EDGE, EDGE, EDGE]),
        ([0, 0, 0], [EDGE; 3]),
    ];
    for k in 0..6u64 {
        let r = |i: u64, n: u32| (hash3(77, k, i) % u64::from(n)) as u32;
        let (x0, z0) = (r(0, EDGE - 4), r(1, EDGE - 4));
        let (x1, z1) = (x0 + 4 + r(2, EDGE - x0 - 3), z0 + 4 + r(3, EDGE - z0 - 3));
        let y0 = r(4, TOP);
        let y1 = (y0 + 1 + r(5, EDGE - y0)).max(FLOOR + 1);
        out.push(([x0, y0, z0], [x1.min(EDGE), y1.min(EDGE), z1.min(EDGE)]));
    }
    out
}

/// Cells of `material` inside the box, and in the whole world.
fn count(rt: &Runtime, material: u8, (min, max): ([u32; 3], [u32; 3])) -> (u64, u64) {
    let world = rt.world();
    let mut inside = 0;
    for z in min[2]..max[2] {
        for y in min[1]..max[1] {
            for x in min[0]..max[0] {
                inside += u64::from(world.material([x, y, z]) == Some(material));
            }
        }
    }
    (inside, world.material_counts()[material as usize])
}

/// Runs a bath at `temperature` over `bath` for `frames` frames.
fn run_bath(
    pressure: f64,
    layer: u8,
    phase: bool,
    bath: ([u32; 3], [u32; 3]),
    temperature: f32,
    frames: u64,
) -> Runtime {
    let mut s = world(pressure, layer, phase);
    s.commands.push(ScheduledCommand {
        frame: 0,
        command: Command::Heat(HeatBathSpec {
            min: bath.0,
            max: bath.1,
            temperature,
            frames: [0, frames],
        }),
    });
    let mut rt = Runtime::new(s).expect("a valid scenario");
    for _ in 0..frames {
        rt.step().expect("a frame");
    }
    rt
}

fn name(material: u8) -> &'static str {
    match material {
        id::WATER => "water",
        id::ICE => "ice",
        id::STEAM => "steam",
        _ => unreachable!("only water, ice and steam here"),
    }
}

/// Above the transition, the layer in the box changes phase; below it,
/// nothing does. `boxes` are the baths tried.
fn check(
    layer: u8,
    product: u8,
    phase: bool,
    pressures: &[f64],
    frames: u64,
    boxes: &[([u32; 3], [u32; 3])],
) {
    for &pressure in pressures {
        // The layer's own weight raises the transition by a little at its
        // bottom: 4 cells of water weigh 10 kPa, about 3 K of boiling point.
        let t_top = transition(layer, product, pressure);
        let t_bottom = transition(layer, product, pressure + 10_000.0);
        let (above, below) = (t_top.max(t_bottom) + 6.0, t_top.min(t_bottom) - 6.0);
        for &bath in boxes {
            let what = format!(
                "{} in a bath over {:?}..{:?} at {pressure} Pa (phase system {phase})",
                name(layer),
                bath.0,
                bath.1
            );
            let before = {
                let rt = Runtime::new(world(pressure, layer, phase)).expect("a valid scenario");
                count(&rt, layer, bath)
            };
            assert!(before.0 > 0, "{what}: the box must hold some of the layer");

            let hot = run_bath(pressure, layer, phase, bath, above, frames);
            let (left, _) = count(&hot, layer, bath);
            if bath == ([0, 0, 0], [EDGE; 3]) {
                // Nothing outside the bath to condense or freeze in.
                assert_eq!(
                    left, 0,
                    "{what} at {above} K (above {t_top} K): {left} cells left"
                );
            }
            if phase {
                // Water around a box that holds only part of the layer
                // flows in as it boils; count what changed phase instead.
                let key = format!("{}->{}", name(layer), name(product));
                let changed = hot.report().transitions.get(&key).copied().unwrap_or(0);
                assert!(
                    changed >= before.0,
                    "{what} at {above} K (above {t_top} K): {changed} cells turned to {}, the box held {}",
                    name(product),
                    before.0
                );
            } else {
                // The automaton's transitions are not counted: boxes that hold
                // the whole layer, so nothing flows in; what leaves may come
                // back after condensing outside the bath.
                assert!(
                    left <= before.0 / 20,
                    "{what} at {above} K (above {t_top} K): {left} of {} cells left",
                    before.0
                );
            }

            let cold = run_bath(pressure, layer, phase, bath, below, frames);
            let (_, total) = count(&cold, layer, bath);
            assert_eq!(
                total, before.1,
                "{what} at {below} K (below {t_top} K): the layer must not change"
            );
        }
    }
}

#[test]
fn water_in_a_bath_boils_above_its_boiling_point_and_not_below_whatever_the_box() {
    let pressures = [50_000.0, 101_325.0, 200_000.0];
    check(id::WATER, id::STEAM, true, &pressures, 240, &boxes());
}

#[test]
fn ice_in_a_bath_melts_above_its_melting_point_and_not_below_whatever_the_box() {
    check(
        id::ICE,
        id::WATER,
        true,
        &[101_325.0, 1_000_000.0],
        240,
        &boxes(),
    );
}

#[test]
fn the_automatons_fixed_thresholds_boil_and_melt_in_any_bath_too() {
    // Without the phase system the automaton boils at 373 K and melts at
    // 273 K whatever the pressure, a few percent of the cells a frame.
    let whole_layer: Vec<_> = boxes()
        .into_iter()
        .filter(|(min, max)| min[0] == 0 && min[2] == 0 && max[0] == EDGE && max[2] == EDGE)
        .filter(|(min, max)| min[1] <= FLOOR && max[1] >= TOP)
        .collect();
    assert!(whole_layer.len() >= 4, "{whole_layer:?}");
    check(id::WATER, id::STEAM, false, &[101_325.0], 400, &whole_layer);
    check(id::ICE, id::WATER, false, &[101_325.0], 400, &whole_layer);
}
