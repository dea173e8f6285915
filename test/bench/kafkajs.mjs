/**
 * kafkajs for the benchmarks, with the kafka-trigger's mend of its idle loop applied
 * (services/kafka-trigger/src/kafkajs-idle-fix.ts): the drivers' and baselines' own clients run on
 * the same kafkajs as the trigger, and none polls its queue every millisecond beside a measurement.
 */
import kafkajs from 'kafkajs';
import { mendKafkajsIdleLoop } from '../../services/kafka-trigger/dist/kafkajs-idle-fix.js';

mendKafkajsIdleLoop();

export default kafkajs;
