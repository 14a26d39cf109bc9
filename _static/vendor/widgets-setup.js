// Written for this course (not vendored): set-up for the vendored ipywidgets HTML manager.
// Loaded after require.js and before embed-amd.js on pages that contain saved widgets.
(function () {
  var here = document.currentScript.src;
  var vendor = here.slice(0, here.lastIndexOf("/"));  // the site's _static/vendor folder
  // embed-amd.js finds its fonts next to its module URL; point that URL at the vendored copy
  require.config({ paths: { "@jupyter-widgets/html-manager/dist": vendor + "/html-manager-1.0.6" } });
  // ipywidgets typesets labels with MathJax 2's API (MathJax.Hub.Queue); this site loads MathJax 3
  window.addEventListener("load", function () {
    if (window.MathJax && window.MathJax.typesetPromise && !window.MathJax.Hub) {
      window.MathJax.Hub = {
        Queue: function () {
          Array.prototype.forEach.call(arguments, function (job) {
            if (Array.isArray(job) && job[0] === "Typeset" && job[2]) {
              window.MathJax.typesetPromise([job[2]]);
            }
          });
        },
      };
    }
  });
})();
