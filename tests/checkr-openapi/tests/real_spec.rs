//! The real description: it loads, the operations the actions use are there, and what
//! the generator makes for their responses validates.

use checkr_openapi::{Rng, shared};

/// The operations the Checkr actions call, with the status of their success response.
const USED: &[(&str, u16)] = &[
    ("account", 200),
    ("createCandidate", 201),
    ("getCandidate", 200),
    ("listOfCandidates", 200),
    ("createInvitation", 201),
    ("getInvitation", 200),
    ("cancelInvitation", 200),
    ("getReport", 200),
    ("packagesList", 200),
    ("nodesList", 200),
];

#[test]
fn generated_responses_validate() {
    let spec = shared().unwrap_or_else(|error| panic!("{error}"));
    for (operation_id, status) in USED {
        let operation = spec
            .operation(operation_id)
            .unwrap_or_else(|| panic!("{operation_id} is not in the description"));
        let schema = spec
            .response_schema(operation, *status)
            .unwrap_or_else(|| panic!("{operation_id} documents no {status} body"));
        for seed in 0..64 {
            let instance = spec.generate(&schema, &mut Rng::new(seed));
            let problems = spec.validate(&schema, &instance);
            assert!(
                problems.is_empty(),
                "{operation_id} seed {seed}: {problems:?}\n{instance:#}"
            );
        }
    }
}
