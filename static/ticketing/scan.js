// Optional camera scanning on the check-in page. A handheld scanner that types the code
// works without this file; where the browser has the BarcodeDetector API, a button lets
// a phone or tablet camera read the QR code and submit it like a scanner would.
(function () {
  "use strict";
  var button = document.getElementById("camera-scan");
  var video = document.getElementById("camera-video");
  var input = document.getElementById("id_code");
  if (!button || !video || !input || !("BarcodeDetector" in window) || !navigator.mediaDevices) {
    return;
  }
  button.hidden = false;
  var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  var stream = null;

  function stop() {
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
    video.hidden = true;
  }

  function scanFrame() {
    if (!stream) { return; }
    detector.detect(video).then(function (codes) {
      if (codes.length > 0) {
        input.value = codes[0].rawValue;
        stop();
        input.form.submit();
      } else {
        window.requestAnimationFrame(scanFrame);
      }
    }).catch(function () { window.requestAnimationFrame(scanFrame); });
  }

  button.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
      stream = s;
      video.srcObject = s;
      video.hidden = false;
      video.play();
      scanFrame();
    }).catch(function () { button.hidden = true; });
  });
})();
