"""The registry as a website: static pages built from git (``release site build``) and
served live on 127.0.0.1 (``release ui``)."""

from release.site.build import BuildResult, build_site

__all__ = ["BuildResult", "build_site"]
