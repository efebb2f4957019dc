// A stand-in for a bundler's hashed output.
document.addEventListener("DOMContentLoaded", () => {
  const p = document.createElement("p");
  p.textContent = "app.5d41402a.js ran at " + new Date().toISOString();
  document.body.appendChild(p);
});
