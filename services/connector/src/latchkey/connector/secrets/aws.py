"""`aws-sm://name[#jsonkey]`: AWS Secrets Manager through boto3.

Authenticates with boto3's default credential chain (IRSA / instance profile / environment);
`AWS_ENDPOINT_URL` or `LATCHKEY_AWS_SM_ENDPOINT` point it at another endpoint (moto in tests).
"""

from __future__ import annotations

import asyncio
from typing import Any

from latchkey.connector.secrets import SecretProviderSettings, SecretRef, SecretUnavailable

# Error codes where trying again later can succeed; everything else needs an operator.
_RETRYABLE = {"InternalServiceError", "ThrottlingException", "RequestTimeout", "ServiceUnavailable"}


class AwsSecretsManagerProvider:
    def __init__(self, settings: SecretProviderSettings) -> None:
        import boto3

        self._client: Any = boto3.session.Session().client(
            "secretsmanager", region_name=settings.aws_region, endpoint_url=settings.aws_sm_endpoint
        )

    async def fetch(self, ref: SecretRef) -> str:
        return await asyncio.to_thread(self._fetch, ref)

    def _fetch(self, ref: SecretRef) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.get_secret_value(SecretId=ref.path)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            raise SecretUnavailable(
                ref.raw, f"Secrets Manager refused: {code}", retryable=code in _RETRYABLE
            ) from None
        except BotoCoreError as exc:
            # Connection/credential problems: the class name says which without quoting anything.
            raise SecretUnavailable(
                ref.raw, f"cannot reach Secrets Manager: {type(exc).__name__}", retryable=True
            ) from None
        if "SecretString" in response:
            return str(response["SecretString"])
        raise SecretUnavailable(ref.raw, "the secret is binary; store the credential as a string")

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)
