export { httpRoDriver, HttpRoState, HTTP_RO_MAX_TRANSFER, type HttpRoOptions } from './http-ro-driver.js';
export { httpBlockPlugin } from './plugin.js';
export { startImageServer, type ImageServer } from './image-server.js';
