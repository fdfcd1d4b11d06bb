"""OpenAPI description of the reseller token, for drf-spectacular."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ResellerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "ticketing.api.auth.ResellerTokenAuthentication"
    name = "resellerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The token given when the reseller was created.",
        }
