"""Local stand-ins for cloud APIs, speaking their real wire protocols so the official SDKs can drive them."""
