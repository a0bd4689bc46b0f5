#!/usr/bin/env python3
"""Checks a DSSE envelope and its in-toto statement with independent implementations.

  python3 dsse_reference.py ENVELOPE.json PUBLIC_KEY.pem KEY_ID

* the signature: securesystemslib's DSSE verification (securesystemslib.dsse.Envelope)
  with the public key loaded by `cryptography` (SSlibKey.from_crypto);
* the payload: parsed strictly (unknown fields are errors) into in-toto-attestation's
  Statement v1 protobuf and validated, and its predicate into SLSA Provenance v1.

Prints one JSON object: {"verified": true, ...fields read} or {"verified": false,
"error": "..."}; exits 0 either way (the test reads the answer), 2 on bad usage.
"""
import json, sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

if len(sys.argv) != 4:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
envelope_path, key_path, key_id = sys.argv[1:]
try:
    with open(envelope_path) as f:
        envelope = Envelope.from_dict(json.load(f))
    with open(key_path, "rb") as f:
        key = SSlibKey.from_crypto(load_pem_public_key(f.read()), keyid=key_id)
    envelope.verify([key], 1)
    statement = json_format.Parse(envelope.payload, statement_pb2.Statement())
    Statement.copy_from_pb(statement).validate()
    predicate = json.loads(envelope.payload)["predicate"]
    provenance = json_format.ParseDict(predicate, provenance_pb2.Provenance())
    print(json.dumps({
        "verified": True,
        "scheme": key.scheme,
        "payload_type": envelope.payload_type,
        "statement_type": statement.type,
        "predicate_type": statement.predicate_type,
        "subject": [{"name": s.name, "digest": dict(s.digest)} for s in statement.subject],
        "builder": provenance.run_details.builder.id,
        "invocation": provenance.run_details.metadata.invocation_id,
        "started": provenance.run_details.metadata.started_on.ToJsonString(),
        "dependencies": [{"name": d.name, "uri": d.uri, "digest": dict(d.digest)}
                         for d in provenance.build_definition.resolved_dependencies],
        "external": json_format.MessageToDict(provenance.build_definition.external_parameters),
    }))
except Exception as error:  # any failure is the answer, not a crash
    print(json.dumps({"verified": False, "error": f"{type(error).__name__}: {error}"}))
