//! Property tests: random operation sequences against a BTreeMap model, with reopens
//! in between.

mod common;

use common::*;
use mgr_store::Uuid;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Save { id: u16, key_len: u8, flags: u16, fill: u8 },
    Delete { id: u16 },
    Get { id: u16 },
    List { after: Option<u16>, max: u8 },
    Reopen,
}

fn op(ids: u16) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..ids, 0u8..=64, any::<u16>(), any::<u8>())
            .prop_map(|(id, key_len, flags, fill)| Op::Save { id, key_len, flags, fill }),
        3 => (0..ids).prop_map(|id| Op::Delete { id }),
        2 => (0..ids).prop_map(|id| Op::Get { id }),
        1 => (proptest::option::of(0..ids), 0u8..100).prop_map(|(after, max)| Op::List { after, max }),
        1 => Just(Op::Reopen),
    ]
}

fn id_uuid(id: u16) -> Uuid {
    uuid(u64::from(id))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_btreemap(ops in proptest::collection::vec(op(400), 1..400)) {
        let (mut store, disk, counter) = format(128);
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Save { id, key_len, flags, fill } => {
                    let key = vec![fill; usize::from(key_len)];
                    store.save(&id_uuid(id), &key, flags).unwrap();
                    model.insert(id_uuid(id), (flags, key));
                }
                Op::Delete { id } => {
                    let existed = store.delete(&id_uuid(id)).unwrap();
                    prop_assert_eq!(existed, model.remove(&id_uuid(id)).is_some());
                }
                Op::Get { id } => {
                    let got = store.get(&id_uuid(id)).unwrap().map(|e| (e.flags, e.key.as_bytes().to_vec()));
                    prop_assert_eq!(got.as_ref(), model.get(&id_uuid(id)));
                }
                Op::List { after, max } => {
                    let after = after.map(id_uuid);
                    let got = store.list(after.as_ref(), usize::from(max)).unwrap();
                    let want: Vec<Uuid> = model
                        .keys()
                        .filter(|u| after.is_none_or(|a| **u > a))
                        .take(usize::from(max))
                        .copied()
                        .collect();
                    prop_assert_eq!(got, want);
                }
                Op::Reopen => {
                    drop(store);
                    store = reopen(&disk, &counter).unwrap();
                }
            }
            prop_assert_eq!(store.len(), model.len() as u64);
        }
        prop_assert_eq!(contents_by_lookup(&mut store).unwrap(), model.clone());
        prop_assert_eq!(contents(&mut store).unwrap(), model.clone());
        let report = store.check().unwrap();
        prop_assert_eq!(report.entries, model.len() as u64);
    }
}
