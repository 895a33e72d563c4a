//! Installing served pages into their pool slots: each channel filled in
//! place where the page holds one value in it (no staging buffer read),
//! copied otherwise, latent heat zeroed, pages in parallel on the frame's
//! rayon pool.

use rayon::prelude::*;

use super::actor::ServedPage;
use crate::world::VoxelWorld;

/// Writes each placed page's cells into its slot, with no latent heat:
/// `placed` pairs a slot of `world` with the index of its page in
/// `pages`; slots are distinct.
pub(super) fn fill_slots(world: &mut VoxelWorld, placed: &[(usize, usize)], pages: &[ServedPage]) {
    let mut placed = placed.to_vec();
    placed.sort_unstable();
    let slots: Vec<usize> = placed.iter().map(|&(slot, _)| slot).collect();
    let material = world.material.slots_mut(&slots);
    let temperature = world.temperature.slots_mut(&slots);
    let latent = world.latent.slots_mut(&slots);
    let flags = world.flags.slots_mut(&slots);
    material
        .into_par_iter()
        .zip(temperature)
        .zip(latent)
        .zip(flags)
        .zip(&placed)
        .for_each(|((((material, temperature), latent), flags), &(_, k))| {
            let page = &pages[k];
            latent.fill(0.0);
            put(material, &page.buf.material, page.uniform[0]);
            put(temperature, &page.buf.temperature, page.uniform[1]);
            put(flags, &page.buf.flags, page.uniform[2]);
        });
}

/// `to = from`, as a fill of `from`'s one value when it is `uniform`: a
/// fill only writes, a copy also reads the staging buffer.
fn put<T: Copy>(to: &mut [T], from: &[T], uniform: bool) {
    match (uniform, from.first()) {
        (true, Some(&value)) => to.fill(value),
        _ => to.copy_from_slice(from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::PageBuf;
    use crate::layout::WorldLayout;

    /// Pages of every mix of uniform and varied channels, installed over
    /// slots that held other pages with latent heat: each reads back as its
    /// buffer, with no latent heat.
    #[test]
    fn every_mix_of_uniform_channels_installs_as_its_buffer() {
        let layout = WorldLayout::new([32, 8, 8], 8).unwrap();
        let cells = layout.page_cells();
        let mut world = VoxelWorld::with_capacity(layout, 4);
        let stale: Vec<usize> = (0..4).collect();
        for &p in &stale {
            let slot = world.place(p).unwrap();
            world.material.slot_mut(slot).fill(9);
            world.temperature.slot_mut(slot).fill(1000.0);
            world.latent.slot_mut(slot).fill(5.0);
            world.flags.slot_mut(slot).fill(3);
        }
        for mix in 0..8u8 {
            for &p in &stale {
                world.evict(p);
            }
            let pages: Vec<ServedPage> = (0..4)
                .map(|page| {
                    let mut buf = PageBuf::new(cells);
                    let varied = |c: u8| mix & (1 << c) != 0;
                    for i in 0..cells {
                        let v = if varied(0) { (i * 7 + page) % 5 } else { page };
                        buf.material[i] = v as u8;
                        buf.temperature[i] = if varied(1) {
                            i as f32
                        } else {
                            250.0 + page as f32
                        };
                        buf.flags[i] = if varied(2) { (i % 3) as u8 } else { 0 };
                    }
                    let uniform = buf.uniform();
                    assert_eq!(uniform, [0, 1, 2].map(|c| !varied(c)), "mix {mix}");
                    ServedPage {
                        page,
                        buf,
                        from_file: false,
                        uniform,
                    }
                })
                .collect();
            let placed: Vec<(usize, usize)> = pages
                .iter()
                .enumerate()
                .map(|(k, s)| (world.place(s.page).unwrap(), k))
                .rev()
                .collect();
            fill_slots(&mut world, &placed, &pages);
            for s in &pages {
                let view = world.page(s.page).unwrap();
                assert_eq!(view.material, &s.buf.material[..], "mix {mix}");
                assert_eq!(view.temperature, &s.buf.temperature[..], "mix {mix}");
                assert_eq!(view.flags, &s.buf.flags[..], "mix {mix}");
                assert!(view.latent.iter().all(|&l| l == 0.0), "mix {mix}");
            }
            for slot in 0..4 {
                world.latent.slot_mut(slot).fill(5.0);
            }
        }
    }
}
