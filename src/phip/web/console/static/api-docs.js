// Starts Swagger UI on /docs (src/phip/web/docs.py). A file, not an inline script: the page runs
// under the platform's Content-Security-Policy. Nothing is fetched from outside this server: no
// validator badge, no CDN; the OpenAPI document is this server's own.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    onComplete: function () {
      document.body.dataset.docsReady = "1";
    },
  });
})();
