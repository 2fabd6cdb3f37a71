/**
 * Registers every tfjs gradient (tfjs-core alone has none). The union package's Node bundle is
 * CommonJS, unlike tfjs-core's own register_all_gradients module. Only training imports this,
 * so inference bundles stay free of tfjs-layers and -converter.
 */
import '@tensorflow/tfjs';
