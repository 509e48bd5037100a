// ReDoc for /openapi.json, from the packaged standalone bundle (no CDN).
Redoc.init("/openapi.json", {}, document.getElementById("redoc"));
