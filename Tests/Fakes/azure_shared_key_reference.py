#!/usr/bin/env python3
"""What Microsoft's own Python SDK (azure-storage-blob) signs for a list of requests.

Not a server: the reference the Swift Shared Key signer (SlipwayModels.AzureSharedKey) is
compared with by Tests/SlipwayModelsTests/AzureSharedKeyTests.swift.

Usage: python3 azure_shared_key_reference.py < cases.json
  stdin:  a JSON list of {"method", "url", "headers", "account", "key"}
  stdout: a JSON list of {"stringToSign", "authorization"}, one per case, in order.
"""
import json, sys
from urllib.parse import urlparse, parse_qsl
from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy
from azure.core.pipeline import PipelineRequest, PipelineContext
from azure.core.pipeline.transport import HttpRequest

out = []
for case in json.load(sys.stdin):
    request = HttpRequest(case["method"], case["url"], headers=case["headers"])
    policy = SharedKeyCredentialPolicy(case["account"], case["key"])
    pipeline_request = PipelineRequest(request, PipelineContext(None))
    string_to_sign = (policy._get_verb(pipeline_request)
        + policy._get_headers(pipeline_request, ["content-encoding", "content-language", "content-length", "content-md5",
                              "content-type", "date", "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "byte_range"])
        + policy._get_canonicalized_headers(pipeline_request)
        + policy._get_canonicalized_resource(pipeline_request)
        + policy._get_canonicalized_resource_query(pipeline_request))
    policy.on_request(pipeline_request)
    out.append({"stringToSign": string_to_sign, "authorization": request.headers["Authorization"]})
print(json.dumps(out))
