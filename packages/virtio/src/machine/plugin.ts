/** The virtio plugin: contributes the virtio-mmio bus type. */
import { definePlugin } from '@vmkit/core';
import { virtioMmioBusType } from './virtio-mmio-slot.js';

export const virtioPlugin = definePlugin('virtio', (ctx) => {
  ctx.busType(virtioMmioBusType);
});
