// The microphone's samples for a live announcement (issue 18), on the audio thread: gathered
// into 20 ms frames at the context's rate and posted to the page, which encodes and sends them.
// An input that gives nothing (a muted track) still yields frames of silence, so time keeps.
class LoaCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.size = options.processorOptions.frameSamples;
    this.buf = new Float32Array(this.size);
    this.n = 0;
  }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    const length = channel ? channel.length : 128;
    for (let i = 0; i < length; i++) {
      this.buf[this.n++] = channel ? channel[i] : 0;
      if (this.n === this.size) {
        this.port.postMessage(this.buf, [this.buf.buffer]);
        this.buf = new Float32Array(this.size);
        this.n = 0;
      }
    }
    return true;
  }
}
registerProcessor('loa-capture', LoaCapture);
