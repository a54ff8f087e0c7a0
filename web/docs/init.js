// The API reference (/docs): Swagger UI rendering the gateway's own /openapi.json.  A file rather than an inline
// script, because the Content-Security-Policy admits only the gateway's own scripts.  The base layout: no top bar
// with a box for loading other specifications, and no validator badge (it would call a validator on another host).
window.ui = window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: false,
});
