//! Any bytes as a manager-protocol request and as every kind of response.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vtpm_proto::{Command, MAX_MESSAGE, Request, Response, reject};

fuzz_target!(|data: &[u8]| {
    let mut out = [0u8; MAX_MESSAGE];
    match Request::parse(data) {
        Ok(request) => {
            let len = request.encode(&mut out).expect("a parsed request re-encodes");
            assert_eq!(&out[..len], data, "a request has one encoding");
        }
        Err(error) => {
            // The manager can always answer, with a header-only error.
            assert_eq!(reject(data, &error, &mut out), Ok(10));
            assert_ne!(error.return_code().0, 0);
        }
    }
    for command in Command::ALL {
        if let Ok(response) = Response::parse(command, data) {
            let len = response.encode(&mut out).expect("a parsed response re-encodes");
            assert_eq!(Response::parse(command, &out[..len]).as_ref(), Ok(&response));
        }
    }
});
