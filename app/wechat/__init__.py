"""The one place that talks to WeChat: API gateway, callback protocol, and the local simulator."""
